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
    monkeypatch.setattr(bootstrap, "_install_with_uv", lambda *_: False)  # pip's path, counted
    bootstrap.install(Path(sys.executable), ["test"])
    assert len(calls) == 1 and calls[0][-1].endswith("[test]")
    bootstrap.install(Path(sys.executable), ["test"])
    bootstrap.install(Path(sys.executable), [])  # the test extras include the plain install
    assert len(calls) == 1

    have = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**have, "pyproject": "changed"}))
    bootstrap.install(Path(sys.executable), [])
    assert len(calls) == 2


def test_another_environment_keeps_its_own_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--venv DIR`` (bench/startup.py's runtime install): its install is recorded in DIR, and neither
    it nor .venv takes the other's record for its own."""
    default_stamp = tmp_path / "default" / "sitrep-installed.json"
    default_stamp.parent.mkdir()
    monkeypatch.setattr(bootstrap, "STAMP", default_stamp)
    made: list[Path] = []

    def create_venv(root: Path) -> Path:
        root.mkdir(exist_ok=True)
        made.append(root)
        return Path(sys.executable)

    monkeypatch.setattr(bootstrap, "create_venv", create_venv)
    calls: list[list[str]] = []
    monkeypatch.setattr(bootstrap, "_run", lambda cmd, **_: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0))
    monkeypatch.setattr(bootstrap, "_install_with_uv", lambda *_: False)
    assert bootstrap.main(["--venv", str(tmp_path / "runtime")]) == 0
    assert made == [tmp_path / "runtime"] and (tmp_path / "runtime" / "sitrep-installed.json").exists()
    assert not default_stamp.exists() and len(calls) == 1
    assert bootstrap.main(["--venv", str(tmp_path / "runtime")]) == 0
    assert len(calls) == 1 and len(made) == 2  # recorded there: nothing to install


def test_a_failed_install_says_so_and_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "sitrep-installed.json"
    monkeypatch.setattr(bootstrap, "STAMP", stamp)
    monkeypatch.setattr(bootstrap, "_run", lambda cmd, **_: subprocess.CompletedProcess(cmd, 1, "", ""))
    with pytest.raises(bootstrap.BootstrapError, match="pip install into .venv failed"):  # uv failed first
        bootstrap.install(Path(sys.executable), [])
    assert not stamp.exists()


PIP_CONFIG = """global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.find-links='/opt/wheels'
:env:.default-timeout='180'
:env:.find-links='/opt/wheels'
"""


def test_uv_installs_from_the_indexes_and_under_the_constraints_pip_is_given() -> None:
    assert bootstrap.uv_options(PIP_CONFIG) == [
        "--constraint", "/etc/xdg/pip/constraints.txt",
        "--extra-index-url", "file:///opt/pypi/simple", "--extra-index-url", "file:///opt/pypi-more/simple",
        "--find-links", "/opt/wheels",  # once, though given twice
        "--index-strategy", "unsafe-best-match",  # as pip: the best version of any index
    ]
    assert bootstrap.uv_options("") == ["--index-strategy", "unsafe-best-match"]  # PyPI, as pip


@pytest.mark.parametrize("setting", ["global.proxy='http://proxy.example:3128'",
                                     "global.trusted-host='pypi.internal'", "install.no-index='1'"])
def test_a_pip_setting_uv_is_not_told_about_leaves_the_install_to_pip(setting: str) -> None:
    assert bootstrap.uv_options(PIP_CONFIG + setting) is None


def test_when_uv_fails_pip_installs_and_the_install_is_recorded(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = tmp_path / "sitrep-installed.json"
    monkeypatch.setattr(bootstrap, "STAMP", stamp)
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    (tmp_path / "bin" / "uv").write_text("")  # where pip puts uv
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        if cmd[:4] == [str(python), "-m", "pip", "config"]:
            return subprocess.CompletedProcess(cmd, 0, PIP_CONFIG, "")
        return subprocess.CompletedProcess(cmd, 1 if cmd[0].endswith("uv") else 0, "", "")

    monkeypatch.setattr(bootstrap, "_run", fake_run)
    bootstrap.install(python, ["test"])
    uv_install, pip_install = calls[2], calls[3]
    assert uv_install[:3] == [str(tmp_path / "bin" / "uv"), "pip", "install"]
    assert "--compile-bytecode" in uv_install and "file:///opt/pypi-more/simple" in uv_install
    assert pip_install[1:4] == ["-m", "pip", "install"] and pip_install[-1].endswith("[test]")
    assert json.loads(stamp.read_text())["extras"] == ["test"]
