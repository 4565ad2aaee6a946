"""Real video clips as training pairs: consecutive frames with DIS optical flow and occlusion masks.

Optical flow is too slow to compute per training step, so each clip is decoded once, a fixed set
of consecutive frame pairs is taken from it, and the frames, flow and mask are cached on disk as
one ``.npz`` per clip. Flow follows the convention in :mod:`stylecast.warp`: from the current frame
to the previous one, so ``warp(prev, flow) ~ cur``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import torch

from stylecast.atomic import atomic_output
from stylecast.data._sampling import check_shard, randint, uniform
from stylecast.data.motion import MotionPair
from stylecast.errors import InputError
from stylecast.warp import inside_mask

# Bump when what is cached, or how it is computed, changes: old cache files are then ignored.
CACHE_VERSION = 1


def dis_flow(cur_gray: np.ndarray, prev_gray: np.ndarray) -> np.ndarray:
    """Dense optical flow from ``cur_gray`` to ``prev_gray`` with OpenCV's DIS (medium preset).

    Args:
        cur_gray, prev_gray: ``uint8`` ``(H, W)`` grayscale frames t and t-1.

    Returns:
        ``float32`` ``(H, W, 2)`` in pixels, x then y: pixel ``p`` of ``cur_gray`` shows what pixel
        ``p + flow[p]`` of ``prev_gray`` showed (the :mod:`stylecast.warp` convention, channels last).
    """
    if cur_gray.shape != prev_gray.shape or cur_gray.ndim != 2:
        raise ValueError(
            f"expected two (H, W) frames of one size, got {cur_gray.shape} and {prev_gray.shape}"
        )
    if cur_gray.dtype != np.uint8 or prev_gray.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames, got {cur_gray.dtype} and {prev_gray.dtype}")
    # DIS objects keep state between calls and are not thread-safe; a fresh one costs nothing
    # next to the flow computation itself.
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    # calc(I0, I1) finds flow with I0(p) ~ I1(p + flow(p)): I0 = current, I1 = previous. The
    # output buffer is not read as an initial guess unless setUseInitialFlow(True) is called.
    flow = np.zeros((*cur_gray.shape, 2), dtype=np.float32)
    flow = dis.calc(np.ascontiguousarray(cur_gray), np.ascontiguousarray(prev_gray), flow)
    return np.asarray(flow, dtype=np.float32)


def occlusion_mask(flow_cur_to_prev: np.ndarray, flow_prev_to_cur: np.ndarray,
                   alpha: float = 0.01, beta: float = 0.5) -> np.ndarray:
    """Pixels whose flow is trustworthy, by forward-backward consistency.

    Following Sundaram et al. 2010 and Ruder et al. 2016: with ``w`` the flow at ``p`` and
    ``w_back`` the reverse flow read (bilinearly) at ``p + w``, ``p`` is reliable when
    ``|w + w_back|^2 <= alpha * (|w|^2 + |w_back|^2) + beta`` and ``p + w`` lies inside the frame.
    Occluded pixels fail the test because the reverse flow there belongs to another surface.

    Args:
        flow_cur_to_prev: ``(H, W, 2)`` flow from frame t to frame t-1, pixels.
        flow_prev_to_cur: ``(H, W, 2)`` flow from frame t-1 to frame t, pixels.
        alpha, beta: the tolerances of the test (relative, and in squared pixels).

    Returns:
        ``float32`` ``(H, W)``, 1.0 reliable, 0.0 occluded or leaving the frame.
    """
    forward = np.asarray(flow_cur_to_prev, dtype=np.float32)
    backward = np.asarray(flow_prev_to_cur, dtype=np.float32)
    height, width = forward.shape[:2]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    target_x = xs + forward[..., 0]
    target_y = ys + forward[..., 1]
    backward_at_target = cv2.remap(backward, target_x, target_y, interpolation=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)
    mismatch = np.square(forward + backward_at_target).sum(axis=-1)
    tolerance = alpha * (np.square(forward).sum(axis=-1) + np.square(backward_at_target).sum(axis=-1)) + beta
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    return ((mismatch <= tolerance) & inside).astype(np.float32)


def _pair_indices(frame_count: int, pairs: int) -> list[int]:
    """Indices ``t`` of up to ``pairs`` pairs ``(t-1, t)`` spread evenly through ``frame_count`` frames."""
    if frame_count < 2:
        return []
    chosen = np.linspace(1, frame_count - 1, num=min(pairs, frame_count - 1)).round().astype(int)
    return sorted({int(t) for t in chosen})


def _target_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """``(width, height)`` scaled so the shorter side is exactly ``short_side``."""
    factor = short_side / min(width, height)
    if width <= height:
        return short_side, max(1, round(height * factor))
    return max(1, round(width * factor)), short_side


def _frame_rgb(frame: av.VideoFrame, size: tuple[int, int]) -> np.ndarray:
    """A decoded frame resized to ``size`` (stored orientation), then turned upright."""
    rgb = frame.reformat(width=size[0], height=size[1], format="rgb24",
                         interpolation="AREA").to_ndarray()
    # Phones store portrait video sideways plus a display rotation (counter-clockwise degrees).
    turns = round(getattr(frame, "rotation", 0) / 90) % 4
    if turns:
        rgb = np.rot90(rgb, turns)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def decode_pairs(path: Path, short_side: int, pairs_per_clip: int) -> np.ndarray:
    """Decode a video once and keep up to ``pairs_per_clip`` consecutive frame pairs.

    Returns:
        ``uint8`` ``(K, 2, H, W, 3)`` RGB, ``[:, 0]`` frame t-1 and ``[:, 1]`` frame t, resized so
        ``min(H, W) == short_side``.

    Raises:
        InputError: the file cannot be opened or decoded, or has fewer than two frames.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{str(path)!r} has no video stream: pass a video file")
            stream = container.streams.video[0]
            frame_count = stream.frames
            if frame_count <= 0:
                # No count in the header: count packets, which is cheap next to decoding.
                frame_count = sum(1 for packet in container.demux(stream) if packet.size > 0)
        targets = _pair_indices(frame_count, pairs_per_clip)
        needed = {t - 1 for t in targets} | set(targets)
        kept: dict[int, np.ndarray] = {}
        size: tuple[int, int] | None = None
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in needed:
                    # One size for the whole clip, even if the stream changes resolution midway.
                    size = size or _target_size(frame.width, frame.height, short_side)
                    kept[index] = _frame_rgb(frame, size)
                if index >= max(needed, default=-1):
                    break
    except InputError:
        raise
    except (av.FFmpegError, OSError, ValueError) as error:
        raise InputError(
            f"cannot decode video {str(path)!r} ({error}): check that it is a complete video file "
            "or re-encode it (for example with ffmpeg -i in.mov out.mp4)"
        ) from error
    pairs = [np.stack((kept[t - 1], kept[t])) for t in targets if t - 1 in kept and t in kept]
    if not pairs:
        raise InputError(
            f"video {str(path)!r} yielded fewer than two decodable frames: use a longer or intact clip"
        )
    return np.stack(pairs)


def clip_flow(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DIS flow (cur -> prev) and its occlusion mask for each pair of ``decode_pairs``' output.

    Returns:
        ``float32`` ``(K, H, W, 2)`` flow in pixels and ``float32`` ``(K, H, W)`` mask in {0, 1}.
    """
    flows, masks = [], []
    for prev_rgb, cur_rgb in frames:
        prev_gray = cv2.cvtColor(prev_rgb, cv2.COLOR_RGB2GRAY)
        cur_gray = cv2.cvtColor(cur_rgb, cv2.COLOR_RGB2GRAY)
        forward = dis_flow(cur_gray, prev_gray)
        backward = dis_flow(prev_gray, cur_gray)
        flows.append(forward)
        masks.append(occlusion_mask(forward, backward))
    return np.stack(flows), np.stack(masks)


class ClipPairs:
    """Consecutive frame pairs of real video clips with DIS flow, computed once and cached on disk.

    Everything is held in memory: per pair ``2 * 3`` bytes of frames, 4 of flow and 1 of mask per
    pixel, about 1.3 MB at 256x455, so 48 pairs of a 16:9 clip take about 60 MB.
    """

    def __init__(self, videos: Sequence[str | Path], cache_dir: str | Path, short_side: int = 256,
                 pairs_per_clip: int = 48, shard: tuple[int, int] = (0, 1)) -> None:
        """Decode, compute flow for, and cache (or load from cache) every clip of this shard.

        ``shard=(rank, world)`` gives each data-parallel worker the clips with index ``rank``
        modulo ``world``; with fewer clips than workers every worker loads all clips and takes
        the pairs with index ``rank`` modulo ``world`` instead.

        Raises:
            InputError: no videos, a video that cannot be decoded, or an unusable cache folder.
        """
        if isinstance(videos, (str, Path)):
            videos = [videos]
        if short_side < 16:
            raise InputError(f"short_side must be at least 16 pixels, not {short_side}")
        if pairs_per_clip < 1:
            raise InputError(f"pairs_per_clip must be at least 1, not {pairs_per_clip}")
        rank, world = check_shard(shard)
        paths = [Path(video).expanduser() for video in videos]
        if not paths:
            raise InputError("no video clips given: pass at least one video file")
        self.short_side = short_side
        self.pairs_per_clip = pairs_per_clip
        self.cache_dir = Path(cache_dir).expanduser()
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(
                f"cannot create the flow cache folder {str(self.cache_dir)!r} ({error}): "
                "choose a writable cache_dir"
            ) from error
        self.computed = 0
        split_clips = len(paths) >= world
        self.paths = paths[rank::world] if split_clips else paths

        self._frames: list[torch.Tensor] = []  # (K, 2, H, W, 3) uint8
        self._flow: list[torch.Tensor] = []  # (K, H, W, 2) float16
        self._mask: list[torch.Tensor] = []  # (K, H, W) uint8
        index: list[tuple[int, int]] = []
        for clip, path in enumerate(self.paths):
            frames, flow, mask = self._load_or_compute(path)
            self._frames.append(torch.from_numpy(frames))
            self._flow.append(torch.from_numpy(flow))
            self._mask.append(torch.from_numpy(mask))
            index.extend((clip, pair) for pair in range(len(frames)))
        self._index = index if split_clips else index[rank::world]
        if not self._index:
            raise InputError(
                f"shard {rank} of {world} got no frame pairs from {len(paths)} clip(s): "
                "add clips or use fewer workers"
            )

    def cache_path(self, video: str | Path) -> Path:
        """Where the cached pairs of ``video`` live; the name changes when the file or settings do.

        The key is the file's bytes, not its path or time stamp, so a cache copied with the clips to
        another machine (a GPU box that has no FFmpeg, say) is still found there. Hashing a clip
        costs milliseconds; decoding it and computing its flow, seconds.
        """
        digest = hashlib.sha1()
        with Path(video).expanduser().open("rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        settings = f"{self.short_side}\0{self.pairs_per_clip}\0{CACHE_VERSION}"
        digest.update(settings.encode())
        return self.cache_dir / f"{digest.hexdigest()}.npz"

    def _load_or_compute(self, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not path.is_file():
            raise InputError(f"video {str(path)!r} does not exist: check the path")
        cached = self.cache_path(path)
        if cached.is_file():
            loaded = _read_cache(cached)
            if loaded is not None:
                return loaded
        frames = decode_pairs(path, self.short_side, self.pairs_per_clip)
        flow, mask = clip_flow(frames)
        arrays = (frames, flow.astype(np.float16), mask.astype(np.uint8))
        _write_cache(cached, *arrays)
        self.computed += 1
        return arrays

    def __len__(self) -> int:
        return len(self._index)

    def sample(self, batch: int, size: int, generator: torch.Generator) -> MotionPair:
        """Random pairs, each cropped to a random ``size`` x ``size`` window and randomly mirrored.

        The window is the same for both frames, the flow and the mask. Mirroring negates the x
        component of the flow. The mask is also cleared where the flow leaves the window, since a
        warp of the cropped previous frame cannot see beyond it. Every random choice comes from
        ``generator`` (a CPU generator).

        Returns:
            A :class:`MotionPair` of ``float32`` CPU tensors: frames in ``[0, 1]``
            ``(batch, 3, size, size)``, flow ``(batch, 2, size, size)`` pixels, mask
            ``(batch, 1, size, size)`` in {0, 1}.

        Raises:
            InputError: ``size`` is larger than the clips' shorter side.
        """
        if size > self.short_side:
            raise InputError(
                f"crop size {size} is larger than the clips' short side {self.short_side}: "
                "use a smaller crop or a larger short_side"
            )
        prev = torch.empty(batch, 3, size, size)
        cur = torch.empty(batch, 3, size, size)
        flow = torch.empty(batch, 2, size, size)
        mask = torch.empty(batch, 1, size, size)
        for i in range(batch):
            clip, pair = self._index[randint(generator, len(self._index))]
            frames = self._frames[clip][pair]  # (2, H, W, 3)
            height, width = frames.shape[1:3]
            top = randint(generator, height - size + 1)
            left = randint(generator, width - size + 1)
            flip = uniform(generator, 0.0, 1.0) < 0.5
            rows, cols = slice(top, top + size), slice(left, left + size)
            window = frames[:, rows, cols].permute(0, 3, 1, 2).float().div_(255.0)
            vectors = self._flow[clip][pair, rows, cols].permute(2, 0, 1).float()
            valid = self._mask[clip][pair, rows, cols].float().unsqueeze(0)
            if flip:
                window = window.flip(-1)
                vectors = vectors.flip(-1)
                vectors[0].neg_()
                valid = valid.flip(-1)
            prev[i], cur[i], flow[i], mask[i] = window[0], window[1], vectors, valid
        mask *= inside_mask(flow)
        return MotionPair(prev=prev, cur=cur, flow=flow, mask=mask)


def _read_cache(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The arrays of a cache file, or None if it is unreadable (then it is simply recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            frames, flow, mask = data["frames"], data["flow"], data["mask"]
    except (OSError, KeyError, ValueError):
        return None
    count, _, height, width, _ = frames.shape if frames.ndim == 5 else (0, 0, 0, 0, 0)
    if count == 0 or flow.shape != (count, height, width, 2) or mask.shape != (count, height, width):
        return None
    return frames, flow, mask


def _write_cache(path: Path, frames: np.ndarray, flow: np.ndarray, mask: np.ndarray) -> None:
    """Write atomically: a crash mid-write must not leave a half file that looks like a cache hit."""
    try:
        with atomic_output(path) as temp, temp.open("wb") as file:
            np.savez(file, frames=frames, flow=flow, mask=mask)
    except OSError as error:
        raise InputError(
            f"cannot write to the flow cache folder {str(path.parent)!r} ({error.strerror or error}): "
            "choose a writable cache_dir with free space"
        ) from error
