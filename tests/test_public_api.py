"""The public API: the README's Python example runs as written, without torch."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import REPO

BLOCK_TORCH = "import sys; sys.modules['torch'] = None\n"


def test_the_readme_example_runs_without_torch(tmp_path) -> None:  # type: ignore[no-untyped-def]
    readme = (REPO / "README.md").read_text()
    example = re.search(r"From Python:\s*```python\n(.*?)```", readme, re.S)
    assert example is not None, "the README lost its Python example"
    check = ("\nassert out.shape == photo.shape and out.dtype.name == 'uint8'\n"
             "assert 'torch' not in [m for m in sys.modules if sys.modules[m] is not None]\n")
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH + example.group(1) + check], cwd=REPO,
                            capture_output=True, text=True, timeout=120,
                            env={"STYLECAST_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "starry_night" in result.stdout and "unknown style 'no_such_style'" in result.stdout


def test_import_stylecast_is_light() -> None:
    code = ("import sys, stylecast\n"
            "assert not {'numpy', 'torch', 'onnxruntime', 'av'} & set(sys.modules), sorted(sys.modules)\n"
            "from stylecast import Stylizer, StylecastError, list_styles, load_model\n"
            "assert Stylizer.__name__ == 'Stylizer' and issubclass(StylecastError, Exception)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
