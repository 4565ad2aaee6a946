"""Training data: content photos, synthetic and real motion pairs with optical flow, style images.

This package needs the ``train`` extra (torch); nothing else in stylecast imports it at import time.
"""

from stylecast.data.clips import ClipPairs, dis_flow, occlusion_mask
from stylecast.data.images import IMAGE_EXTENSIONS, ContentImages, list_images, load_rgb, to_tensor
from stylecast.data.motion import MotionPair, homography_flow, random_homographies, synthetic_pairs
from stylecast.data.styles import StyleImages

__all__ = [
    "IMAGE_EXTENSIONS",
    "ClipPairs",
    "ContentImages",
    "MotionPair",
    "StyleImages",
    "dis_flow",
    "homography_flow",
    "list_images",
    "load_rgb",
    "occlusion_mask",
    "random_homographies",
    "synthetic_pairs",
    "to_tensor",
]
