"""Set up ``.venv`` for Sitrep with nothing but the Python standard library.

README's two commands start with ``python3 -m bot.bootstrap``: a stock Debian 12 or Ubuntu 24.04 Python
refuses ``pip install`` outside a virtual environment (PEP 668), and may lack ``ensurepip`` (Debian ships
it in ``python3-venv``). This module

1. creates ``.venv`` beside ``pyproject.toml`` (with pip when ``ensurepip`` exists; otherwise without, and
   then gives it pip from the system's pip, or from pip's own wheel fetched from the package index);
2. installs Sitrep into it, editable (``--test`` adds the test extras), with uv when it can (uv from the
   package index through pip, given pip's indexes and constraints; about a minute faster), else with pip;
3. remembers what it installed (a hash of ``pyproject.toml`` and the extras), so running it again is a no-op.

It imports nothing from ``bot`` and nothing outside the standard library: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / "sitrep-installed.json"
MIN_PYTHON = (3, 11)
#: where pip's own wheel comes from when neither ensurepip nor a system pip exists
PYPI_JSON = "https://pypi.org/pypi/pip/json"


class BootstrapError(RuntimeError):
    """Set-up cannot go on; the message says what to do."""


def venv_python(root: Path = VENV) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def has_ensurepip() -> bool:
    try:
        import ensurepip  # noqa: F401
    except ImportError:
        return False
    return True


def _run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def _venv_has_pip(python: Path) -> bool:
    return _run([str(python), "-m", "pip", "--version"], capture_output=True).returncode == 0


def create_venv(root: Path = VENV) -> Path:
    """Create (or repair) the environment and make sure it has pip; return its python."""
    python = venv_python(root)
    if not python.exists():
        print(f"bootstrap: creating {root.relative_to(ROOT) if root.is_relative_to(ROOT) else root}", flush=True)
        venv.EnvBuilder(with_pip=has_ensurepip(), clear=root.exists()).create(root)
    if not _venv_has_pip(python):
        _give_pip(python)
    return python


def _give_pip(python: Path) -> None:
    # 1) the system's pip can install into another interpreter (pip >= 22.3: --python)
    system_pip = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "pip"],
                      capture_output=True)
    if system_pip.returncode == 0 and _venv_has_pip(python):
        return
    # 2) pip's wheel from the package index: a wheel is a zip that runs itself (python pip.whl/pip install …)
    print("bootstrap: no ensurepip and no usable system pip; fetching pip's wheel from PyPI", flush=True)
    try:
        with urllib.request.urlopen(PYPI_JSON, timeout=60) as response:  # noqa: S310 (fixed https URL)
            release = json.load(response)
        wheel = next(f for f in release["urls"] if f["packagetype"] == "bdist_wheel")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / wheel["filename"]
            url = urllib.parse.urljoin(PYPI_JSON, wheel["url"])  # mirrors answer relative links
            with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310
                path.write_bytes(response.read())
            if hashlib.sha256(path.read_bytes()).hexdigest() != wheel["digests"]["sha256"]:
                raise BootstrapError("pip's wheel from PyPI does not match its published sha256; try again")
            done = _run([str(python), f"{path}/pip", "install", "--quiet", str(path)])
    except (OSError, KeyError, StopIteration, ValueError) as exc:
        raise BootstrapError(
            f"cannot give .venv a pip ({exc}); install your distribution's venv package "
            "(Debian/Ubuntu: apt-get install python3-venv) and run this again") from exc
    if done.returncode != 0 or not _venv_has_pip(python):
        raise BootstrapError("installing pip into .venv failed (see the lines above)")


def wanted(extras: list[str]) -> dict[str, object]:
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    return {"pyproject": hashlib.sha256(pyproject).hexdigest(), "extras": sorted(extras),
            "python": sys.version.split()[0]}


def installed_matches(want: dict[str, object], stamp: Path | None = None) -> bool:
    try:
        have = json.loads((stamp or STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(have.get("pyproject") == want["pyproject"]
                and set(want["extras"]) <= set(have.get("extras", []))  # type: ignore[arg-type]
                and have.get("python") == want["python"])


def install(python: Path, extras: list[str], stamp: Path | None = None) -> None:
    """Install Sitrep into ``python``'s environment, unless ``stamp`` (default ``.venv``'s) says it is."""
    want = wanted(extras)
    if installed_matches(want, stamp):
        return
    target = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    where = python.parent.parent
    print(f"bootstrap: installing sitrep{'[' + ','.join(extras) + ']' if extras else ''} into "
          f"{where.relative_to(ROOT) if where.is_relative_to(ROOT) else where} (a minute or so the first time)",
          flush=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PIP_USER", None)
    if not _install_with_uv(python, target, env):
        done = _run([str(python), "-m", "pip", "install", "--quiet", "-e", target], env=env)
        if done.returncode != 0:
            raise BootstrapError("pip install into .venv failed (see pip's message above)")
    (stamp or STAMP).write_text(json.dumps(want), encoding="utf-8")


#: pip settings that uv takes as these options (several values: one option each)
UV_OPTION_OF_PIP = {"index-url": "--index-url", "extra-index-url": "--extra-index-url",
                    "find-links": "--find-links", "constraint": "--constraint"}
#: pip settings that change nothing about what gets installed from where
PIP_ONLY = {"cert", "timeout", "default-timeout", "disable-pip-version-check", "root-user-action",
            "no-cache-dir", "cache-dir", "progress-bar", "quiet", "verbose", "no-input", "retries",
            "break-system-packages", "user"}


def pip_settings(pip_config: str) -> list[tuple[str, list[str]]]:
    """``pip config list`` lines (``global.find-links='a b'``, ``:env:.cert='…'``) as (name, values)."""
    settings = []
    for line in pip_config.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            settings.append((key.rsplit(".", 1)[-1].strip(), value.strip().strip("'\"").split()))
    return settings


def uv_options(pip_config: str) -> list[str] | None:
    """``pip config list`` (files and ``PIP_*`` variables) as uv options, so that uv installs from the
    same indexes and under the same constraints as pip would; None when a setting has no
    translation here (a proxy, a trusted host, a client certificate…): then pip installs."""
    options: list[str] = []
    for name, values in pip_settings(pip_config):
        if name in UV_OPTION_OF_PIP:
            for item in values:
                option = [UV_OPTION_OF_PIP[name], item]
                if not any(options[i:i + 2] == option for i in range(0, len(options), 2)):
                    options += option
        elif name not in PIP_ONLY:
            return None
    # pip takes the best version any index offers; uv's default is the first index that has the name
    return [*options, "--index-strategy", "unsafe-best-match"]


def _install_with_uv(python: Path, target: str, env: dict[str, str]) -> bool:
    """Install with uv (a few seconds where pip takes about a minute: it resolves and unpacks in
    parallel, and compiles bytecode on all CPUs), from the indexes pip is configured with. uv itself
    comes from the package index through pip. False, having said why, when any of it fails: then
    pip installs as before."""
    config = _run([str(python), "-m", "pip", "config", "list"], capture_output=True, env=env)
    options = uv_options(config.stdout) if config.returncode == 0 else None
    if options is None:
        return False
    got_uv = _run([str(python), "-m", "pip", "install", "--quiet", "uv"], capture_output=True, env=env)
    uv = python.with_name("uv.exe" if os.name == "nt" else "uv")
    if got_uv.returncode != 0 or not uv.is_file():
        print("bootstrap: uv could not be installed; pip installs instead (slower)", flush=True)
        return False
    cert = next((values[0] for name, values in pip_settings(config.stdout) if name == "cert" and values), None)
    uv_env = {**env, **({"SSL_CERT_FILE": cert} if cert and "SSL_CERT_FILE" not in env else {})}
    done = _run([str(uv), "pip", "install", "--quiet", "--python", str(python), "--compile-bytecode",
                 *options, "-e", target], env=uv_env)
    if done.returncode != 0:
        print("bootstrap: uv could not install (see above); pip installs instead", flush=True)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bot.bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("--test", action="store_true", help="also install the test extras")
    parser.add_argument("--venv", type=Path, default=VENV, help="the environment to create (default: .venv)")
    args = parser.parse_args(argv)
    if sys.version_info < MIN_PYTHON:
        print(f"bootstrap: Sitrep needs Python ≥ {'.'.join(map(str, MIN_PYTHON))}; this is "
              f"{sys.version.split()[0]} ({sys.executable})", file=sys.stderr)
        return 1
    try:
        root = args.venv.resolve()
        install(create_venv(root), ["test"] if args.test else [], stamp=root / STAMP.name)
    except BootstrapError as exc:
        print(f"bootstrap: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
