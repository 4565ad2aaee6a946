"""Training throughput and where a step's time goes.

    python benchmarks/train_speed.py [--size 256] [--batch 4] [--repeats 7] [--json]

Uses generated photos and paintings (no data needed), the default G and D, and the zoo recipe's
loss weights. Prints, for fp32 and bf16 autocast: images per second of the full D/G step (content
frames per second; each also has its previous frame through G), the median time of each part
measured alone with the same shapes, and G's GMAC and parameters at 640x480. Pause other work
(training) while it runs: the machine has 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from stylecast import losses as L
from stylecast.models.generator import Generator, count_macs
from stylecast.models.style import STYLE_STAT_DIM, StyleNet
from stylecast.train.config import load_config
from stylecast.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm up (allocations, oneDNN kernel selection)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _make_data(root: Path) -> list[str]:
    rng = np.random.default_rng(0)
    (root / "content").mkdir()
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)).save(root / "content" / f"{i}.png")
    styles = []
    for i in range(2):
        path = root / f"style{i}.png"
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(path)
        styles.append(f'{{path="{path}", name="s{i}"}}')
    return [f'data.content=["{root / "content"}"]', f"data.styles=[{', '.join(styles)}]",
            "data.clips=[]", "run.image_every=0", "optim.warmup_steps=0"]


def measure(precision: str, size: int, batch: int, repeats: int, data: list[str]) -> dict[str, float]:
    overrides = data + [f"data.size={size}", f"data.batch={batch}", f"data.content_short_side={size + 32}",
                        f"run.precision='{precision}'"]
    config = load_config(REPO / "configs" / "zoo.toml", overrides)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(config, out, verbose=False)
        batches = [trainer.make_batch(i) for i in range(repeats + 1)]
        step_index = iter(range(len(batches) * 2))
        step = _median_seconds(lambda: trainer.train_step(batches[next(step_index) % len(batches)]), repeats)

        autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if precision == "bf16" else nullcontext
        net: StyleNet = trainer.net
        b = batches[0]
        frames = torch.cat([b.pair.prev, b.pair.cur]).contiguous(memory_format=trainer.memory_format)
        ids = torch.cat([b.style_ids, b.style_ids])
        stats = torch.randn(2 * batch, STYLE_STAT_DIM)
        use = torch.zeros(2 * batch, dtype=torch.bool)
        objective = trainer.objective
        content_layers = list(objective.content_layers)
        layers = objective.output_layers

        def g_part() -> None:
            with autocast():
                out = net(frames, ids, stats, use)[0]
            out.float().mean().backward()

        out_cur = torch.rand(batch, 3, size, size, requires_grad=True)

        def e_part() -> None:
            with autocast():
                with torch.no_grad():
                    trainer.features(b.pair.cur, content_layers)
                feats = trainer.features(out_cur, layers)
            sum(f.float().mean() for f in feats.values()).backward()

        with autocast():
            fixed = {k: v.detach().requires_grad_() for k, v in trainer.features(out_cur, layers).items()}
            targets = {k: fixed[k].detach() for k in content_layers}
        grams = {k: v[b.style_ids] for k, v in trainer.target_grams.items()}
        prev_out = torch.rand(batch, 3, size, size, requires_grad=True)
        feat = torch.rand(batch, 64, size // 4, size // 4, requires_grad=True)

        def loss_part() -> None:
            content = sum(w * L.content_loss(fixed[k], targets[k]) for k, w in objective.content_layers.items())
            total = (content + L.style_loss(fixed, grams, dict(objective.style_layers), energy_cap=objective.energy_cap)
                     + L.total_variation(out_cur)
                     + L.temporal_output_loss(out_cur, prev_out, b.pair.cur, b.pair.prev, b.pair.flow, b.pair.mask)
                     + L.temporal_feature_loss(feat, feat.detach(), b.pair.flow, b.pair.mask))
            total.backward()

        codes = torch.randn(batch, config.model.code_dim)

        def d_part() -> None:
            fakes = torch.rand(batch, 3, size, size, requires_grad=True)
            crops = fakes[:, :, : config.data.d_crop, : config.data.d_crop]
            with autocast():
                trainer.disc.eval()
                g_side = trainer.gan(trainer.disc(crops, codes), True, for_discriminator=False)
            g_side.backward()
            trainer.d_step(b, fakes.detach(), codes)

        parts = {name: _median_seconds(fn, repeats) for name, fn in
                 [("G", g_part), ("E", e_part), ("losses", loss_part), ("D", d_part)]}
    return {"step_seconds": step, "images_per_second": batch / step, **{f"{k}_seconds": v for k, v in parts.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    g = Generator()
    report: dict[str, object] = {
        "threads": torch.get_num_threads(),
        "generator_gmac_640x480": round(count_macs(g, torch.rand(1, 3, 480, 640), torch.randn(1, 64)) / 1e9, 3),
        "generator_parameters": sum(p.numel() for p in g.parameters()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        data = _make_data(Path(tmp))
        for precision in ("fp32", "bf16"):
            report[precision] = measure(precision, args.size, args.batch, args.repeats, data)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"G: {report['generator_gmac_640x480']} GMAC per 640x480 frame, "
          f"{report['generator_parameters']:,} parameters")
    for precision in ("fp32", "bf16"):
        r = report[precision]
        assert isinstance(r, dict)
        parts = ", ".join(f"{k[:-8]} {1000 * r[k]:.0f} ms" for k in r if k.endswith("_seconds") and k != "step_seconds")
        print(f"{precision}: {r['images_per_second']:.2f} img/s at {args.size} px, batch {args.batch} "
              f"(step {1000 * r['step_seconds']:.0f} ms; alone: {parts})")


if __name__ == "__main__":
    main()
