"""The live run's options: the command line fills every field, and both agree on the defaults."""

from __future__ import annotations

import dataclasses

from stylecast.runtime.live import LiveOptions
from tests.runtime.live.conftest import live_args


def test_defaults_of_the_command_line_and_the_options_agree() -> None:
    assert live_args("--source", "0", "--sink", "null") == LiveOptions(source="0", sinks=["null"])


def test_every_option_comes_through() -> None:
    options = live_args("--source", "clip.mp4", "--sink", "null", "--sink", "out.mkv", "--size", "320x240",
                        "--style", "udnie", "--strength", "0.5", "--knob", "0.25", "--preserve-color", "--stabilize",
                        "--target-fps", "20", "--loop", "--control", "8765", "--reconnect", "1", "--duration", "3",
                        "--stats-interval", "2", "--model", "m.safetensors", "--backend", "torch",
                        "--precision", "bf16", "--threads", "2", "--working-size", "360", "--workers", "3", "--json")
    defaults = LiveOptions(source="")
    changed = {f.name for f in dataclasses.fields(LiveOptions)
               if getattr(options, f.name) != getattr(defaults, f.name)}
    assert changed == {f.name for f in dataclasses.fields(LiveOptions)} - {"compile"}
    assert list(options.sinks) == ["null", "out.mkv"] and options.knob == 0.25 and options.threads == 2
