"""README's set-up: `python3 -m bot.bootstrap` makes a working .venv on a Python without ensurepip and does
nothing the second time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot import bootstrap


def test_a_python_without_ensurepip_still_gets_a_venv_with_pip(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Debian without python3-venv: `python3 -m venv` fails with "ensurepip is not available"
    monkeypatch.setattr(bootstrap, "has_ensurepip", lambda: False)
    python = bootstrap.create_venv(tmp_path / "venv")
    pip = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=False)
    assert pip.returncode == 0, pip.stderr
    assert str(tmp_path / "venv") in pip.stdout  # the venv's own pip, not the system's


def test_a_second_run_installs_nothing_unless_pyproject_or_extras_change(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "sitrep-installed.json"
    monkeypatch.setattr(bootstrap, "STAMP", stamp)
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(bootstrap, "_run", fake_run)
    bootstrap.install(Path(sys.executable), ["test"])
    assert len(calls) == 1 and calls[0][-1].endswith("[test]")
    bootstrap.install(Path(sys.executable), ["test"])
    bootstrap.install(Path(sys.executable), [])  # the test extras include the plain install
    assert len(calls) == 1

    have = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**have, "pyproject": "changed"}))
    bootstrap.install(Path(sys.executable), [])
    assert len(calls) == 2


def test_a_failed_install_says_so_and_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "sitrep-installed.json"
    monkeypatch.setattr(bootstrap, "STAMP", stamp)
    monkeypatch.setattr(bootstrap, "_run", lambda cmd, **_: subprocess.CompletedProcess(cmd, 1, "", ""))
    with pytest.raises(bootstrap.BootstrapError, match="pip install into .venv failed"):
        bootstrap.install(Path(sys.executable), [])
    assert not stamp.exists()
