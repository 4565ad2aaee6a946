"""Stopping a training run between steps: Ctrl-C and SIGTERM end it with a saved, whole step."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopAtStepEnd:
    """Ctrl-C or SIGTERM during training asks the loop to stop after the current step, which it saves
    (a step cut in half would leave G updated and D not); a second Ctrl-C stops at once, unsaved."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # an embedding program owns the signals

        def handle(signum: int, frame: Any) -> None:
            if self.requested and signum == signal.SIGINT:
                raise KeyboardInterrupt
            self.requested = True

        self._previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
