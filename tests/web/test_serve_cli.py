"""`stylecast serve` with bad arguments: one line on stderr, exit code 2, nothing started."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from stylecast.cli import main


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"cannot serve on 127.0.0.1:{port}" in err and "--port" in err


@pytest.mark.parametrize("argv, message", [
    (["--host", "no-such-host.invalid"], "is not a name or address this machine can listen on"),
    (["--host", "192.0.2.123"], "is not an address of this machine"),
    (["--port", "70000"], "outside 0..65535"),
    (["--max-peers", "0"], "--max-peers"),
    (["--workers", "0"], "--workers"),
    (["--workers", "9"], "--workers"),
])
def test_bad_arguments(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("stylecast: error: ") and message in err and err.count("\n") == 1


def test_bad_data_dir_is_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "stylecast", "serve", "--port", "0", "--data-dir", "/proc/nope"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot create the data dir" in result.stderr
    assert "Traceback" not in result.stderr
