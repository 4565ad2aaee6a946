"""stylecast: real-time video style transfer with a small GAN-trained, multi-style generator.

Nothing heavy is imported here: ``import stylecast`` must stay fast and must not need torch.
"""

from stylecast.errors import StylecastError

__version__ = "0.1.0"
__all__ = ["StylecastError", "__version__"]
