"""The media tests share the runtime tests' generated clips."""

from tests.runtime.conftest import clip, make_clip  # noqa: F401
