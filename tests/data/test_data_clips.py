from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from stylecast.data import ClipPairs, MotionPair, dis_flow, occlusion_mask
from stylecast.errors import InputError
from stylecast.warp import warp

SHIFT = 2  # the shifting_video fixture's content moves right this many pixels per frame


def _gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def test_dis_flow_follows_the_cur_to_prev_convention(make_texture: Callable[..., np.ndarray]) -> None:
    canvas = _gray(make_texture(80, 120, seed=1))
    prev = np.ascontiguousarray(canvas[10:74, 10:106])
    cur = np.ascontiguousarray(canvas[9:73, 13:109])  # content moved 3 px left and 1 px down
    flow = dis_flow(cur, prev)
    assert flow.shape == (64, 96, 2) and flow.dtype == np.float32
    # cur(p) = prev(p + (3, -1)): what is now at p was 3 px to the right and 1 px up.
    interior = flow[8:-8, 8:-8]
    assert np.abs(interior - np.array([3.0, -1.0])).sum(axis=-1).mean() < 0.3


def test_occlusion_mask_consistent_flow_is_reliable_inside_the_frame() -> None:
    forward = np.zeros((10, 12, 2), np.float32)
    forward[..., 0] = -2.0
    mask = occlusion_mask(forward, -forward)
    assert mask.dtype == np.float32 and mask.shape == (10, 12)
    assert (mask[:, :2] == 0).all()  # p + w is left of the frame
    assert (mask[:, 2:] == 1).all()


def test_occlusion_mask_rejects_inconsistent_flow() -> None:
    forward = np.full((10, 12, 2), 3.0, np.float32)
    backward = np.zeros_like(forward)  # the way back does not return: an occlusion
    assert occlusion_mask(forward, backward).sum() == 0
    # A small disagreement is tolerated (beta), and one that grows with the motion (alpha).
    assert occlusion_mask(np.zeros_like(forward), np.full_like(forward, 0.4)).all()
    left = np.zeros((10, 40, 2), np.float32)
    left[..., 0] = -20.0
    assert occlusion_mask(left, -left * 1.05)[:, 20:].all()
    assert occlusion_mask(left, -left * 1.3).sum() == 0


def test_clip_pairs_flow_matches_the_true_motion(shifting_video: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    clips = ClipPairs([shifting_video], cache, short_side=64, pairs_per_clip=48)
    assert clips.computed == 1
    assert len(clips) == 7  # 8 frames give 7 consecutive pairs
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".npz"  # no temporary leftovers
    with np.load(files[0]) as data:
        frames, flow, mask = data["frames"], data["flow"], data["mask"]
    assert frames.shape == (7, 2, 64, 96, 3) and frames.dtype == np.uint8
    assert flow.shape == (7, 64, 96, 2) and flow.dtype == np.float16
    assert mask.shape == (7, 64, 96) and mask.dtype == np.uint8
    reliable = mask.astype(bool)
    assert reliable.mean() > 0.8
    assert not reliable[:, :, :SHIFT].any()  # entered the frame on the left: no source
    error = np.abs(flow.astype(np.float32) - np.array([-SHIFT, 0.0])).sum(axis=-1)
    assert error[reliable].mean() < 0.5


def test_clip_pairs_second_construction_loads_the_cache(shifting_video: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = ClipPairs([shifting_video], cache, short_side=64, pairs_per_clip=4)
    second = ClipPairs([shifting_video], cache, short_side=64, pairs_per_clip=4)
    assert (first.computed, second.computed) == (1, 0)
    assert len(first) == len(second) == 4
    sample = second.sample(2, 32, torch.Generator().manual_seed(0))
    assert torch.equal(sample.flow, first.sample(2, 32, torch.Generator().manual_seed(0)).flow)
    # Other settings, or a changed file, need new flow.
    assert ClipPairs([shifting_video], cache, short_side=48, pairs_per_clip=4).computed == 1
    with shifting_video.open("ab") as file:  # the same clip with bytes appended is another file
        file.write(b"\0")
    assert ClipPairs([shifting_video], cache, short_side=64, pairs_per_clip=4).computed == 1


def test_clip_pairs_cache_follows_a_copied_clip(shifting_video: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert ClipPairs([shifting_video], cache, short_side=64, pairs_per_clip=2).computed == 1
    moved = tmp_path / "elsewhere" / "renamed.mp4"
    moved.parent.mkdir()
    shutil.copy(shifting_video, moved)
    os.utime(moved, ns=(1, 1))
    assert ClipPairs([moved], cache, short_side=64, pairs_per_clip=2).computed == 0


def test_clip_pairs_damaged_cache_is_recomputed(shifting_video: Path, tmp_path: Path) -> None:
    clips = ClipPairs([shifting_video], tmp_path, short_side=64, pairs_per_clip=2)
    clips.cache_path(shifting_video).write_bytes(b"half a file")
    again = ClipPairs([shifting_video], tmp_path, short_side=64, pairs_per_clip=2)
    assert again.computed == 1 and len(again) == 2


def test_clip_pairs_sample_crops_flips_and_warps(shifting_video: Path, tmp_path: Path) -> None:
    clips = ClipPairs([shifting_video], tmp_path, short_side=64)
    pair = clips.sample(16, 48, torch.Generator().manual_seed(0))
    assert isinstance(pair, MotionPair)
    assert pair.prev.shape == pair.cur.shape == (16, 3, 48, 48)
    assert pair.flow.shape == (16, 2, 48, 48) and pair.mask.shape == (16, 1, 48, 48)
    assert pair.prev.dtype == pair.flow.dtype == pair.mask.dtype == torch.float32
    assert 0.0 <= pair.prev.min() and pair.cur.max() <= 1.0
    # Mirrored samples move left: their x flow is +SHIFT, the others' -SHIFT.
    weights = pair.mask[:, 0]
    mean_dx = (pair.flow[:, 0] * weights).sum(dim=(1, 2)) / weights.sum(dim=(1, 2))
    assert torch.allclose(mean_dx.abs(), torch.full((16,), float(SHIFT)), atol=0.3)
    assert (mean_dx > 0).any() and (mean_dx < 0).any()
    # The flow aligns the cropped previous frame with the current one; the wrong sign does not.
    visible = pair.mask.expand_as(pair.cur) > 0
    aligned = (warp(pair.prev, pair.flow) - pair.cur)[visible].abs().mean()
    misaligned = (warp(pair.prev, -pair.flow) - pair.cur)[visible].abs().mean()
    assert aligned < 0.03 and misaligned > 3 * aligned
    # Pixels whose source lies outside the crop window cannot be compared.
    for b in range(16):
        edge = slice(0, SHIFT) if mean_dx[b] < 0 else slice(48 - SHIFT, 48)
        assert pair.mask[b, 0, :, edge].sum() == 0
    again = clips.sample(16, 48, torch.Generator().manual_seed(0))
    assert torch.equal(again.cur, pair.cur) and torch.equal(again.mask, pair.mask)
    with pytest.raises(InputError, match="crop size"):
        clips.sample(1, 65, torch.Generator())


def test_clip_pairs_honours_display_rotation(make_video: Callable[..., Path], tmp_path: Path) -> None:
    frames = [np.full((64, 96, 3), 40 * t, np.uint8) for t in range(3)]
    for frame in frames:
        frame[:8, :8] = 255  # a marker in the stored top-left corner
    video = make_video(tmp_path / "portrait.mp4", frames, rotation=90)
    clips = ClipPairs([video], tmp_path / "cache", short_side=64)
    assert clips.computed == 1
    with np.load(clips.cache_path(video)) as data:
        upright = data["frames"]
    assert upright.shape[2:4] == (96, 64)  # shown portrait
    # Turned a quarter counter-clockwise, the stored top-left corner is at the bottom left.
    assert upright[0, 0, -4:, :4].mean() > 200 and upright[0, 0, :4, :4].mean() < 150


def test_clip_pairs_corrupt_video_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(os.urandom(2048))
    with pytest.raises(InputError, match="broken.mp4"):
        ClipPairs([broken], tmp_path / "cache", short_side=64)
    assert not list((tmp_path / "cache").iterdir())


def test_clip_pairs_missing_video_and_empty_list(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="gone.mp4"):
        ClipPairs([tmp_path / "gone.mp4"], tmp_path / "cache")
    with pytest.raises(InputError, match="no video"):
        ClipPairs([], tmp_path / "cache")


def test_clip_pairs_shards(shifting_video: Path, make_video: Callable[..., Path], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    # One clip, two workers: the pairs are split.
    halves = [ClipPairs([shifting_video], cache, short_side=64, shard=(rank, 2)) for rank in range(2)]
    assert [len(half) for half in halves] == [4, 3]
    # Two clips, two workers: each takes one clip.
    frames = [np.full((64, 96, 3), 30 * t, np.uint8) for t in range(4)]
    other = make_video(tmp_path / "other.mp4", frames)
    split = [ClipPairs([shifting_video, other], cache, short_side=64, shard=(rank, 2)) for rank in range(2)]
    assert [clip.paths for clip in split] == [[shifting_video], [other]]
    assert [len(clip) for clip in split] == [7, 3]


def test_clip_pairs_cache_write_failure_names_the_folder_and_leaves_nothing(
        shifting_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import stylecast.atomic as atomic

    def disk_full(path: Path, directory: bool = False) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(atomic, "fsync_path", disk_full)
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match="flow cache folder.*No space left on device.*cache_dir"):
        ClipPairs([shifting_video], cache, short_side=64, pairs_per_clip=2)
    assert list(cache.iterdir()) == []
