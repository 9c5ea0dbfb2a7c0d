"""The third-party project's own virtualenv: Wagtail, gunicorn, and this checkout with the
``gradio`` extra, installed by pip as a team adopting the gateway would install them.

A fresh one takes about 45 s here (Gradio and Wagtail with their dependencies), and its
contents change only with ``pyproject.toml`` or the pins below, so it is kept between runs
under the user's cache directory, keyed by them, and built under a file lock so that two runs
never build into the same place; one left unused for an hour (its key is stale) is removed.
This checkout is reinstalled on every run, without its
dependencies, from a copy of its files: the test always runs the code on disk, packaged as a
wheel would package it, and never writes into the checkout (pip builds a directory in place).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["THIRD_PARTY", "adoption_venv"]

ROOT = Path(__file__).resolve().parents[2]

# Pinned so that every run adopts the same release: wagtail 8.0.1 is the newest that
# supports Django 5.2 on Python 3.11.
THIRD_PARTY = ("wagtail==8.0.1", "gunicorn==27.0.1")

# What the build reads: the top-level metadata files and the package itself.
_PACKAGE = "fastapi_gateway"
_METADATA = ("pyproject.toml", "README.md", "LICENSE", "LICENSE.txt", "MANIFEST.in", "setup.cfg", "setup.py")
_STALE_AFTER_SECONDS = 3600


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "django-fastapi-shim" / "adoption"


def _key() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update("\n".join([*THIRD_PARTY, sys.version]).encode())
    return digest.hexdigest()[:16]


@contextmanager
def _locked(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """Hold ``path``'s lock; without ``wait``, yields whether it was free."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_stale(current: Path) -> None:
    """Virtualenvs of older keys that no run has used for an hour (each is about 600 MB)."""
    for venv in current.parent.glob("venv-*"):
        if venv == current or not venv.is_dir():
            continue
        used = venv / ".used"
        if used.exists() and time.time() - used.stat().st_mtime < _STALE_AFTER_SECONDS:
            continue
        with _locked(venv.with_suffix(".lock"), wait=False) as free:
            if free:
                shutil.rmtree(venv, ignore_errors=True)


def _pip(venv: Path, *arguments: str) -> None:
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, env=_pip_env())
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def _pip_env() -> dict[str, str]:
    """The caller's environment (pip's configuration included) without the test run's
    Python and Django variables."""
    return {key: value for key, value in os.environ.items()
            if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not key.startswith("DJANGO_")}


def _checkout_copy(target: Path) -> Path:
    """This checkout's package and metadata files, copied for pip to build from."""
    for name in _METADATA:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / _PACKAGE, target / _PACKAGE, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def _build_requirements() -> list[str]:
    with (ROOT / "pyproject.toml").open("rb") as pyproject:
        return list(tomllib.load(pyproject)["build-system"]["requires"])


def adoption_venv(scratch: Path) -> Path:
    """The virtualenv, built if missing, with this checkout freshly installed into it.

    ``scratch`` is an empty directory of this run (for the copy pip builds from).
    """
    venv = _cache_root() / f"venv-{_key()}"
    source = _checkout_copy(scratch)
    with _locked(venv.with_suffix(".lock")):
        if not (venv / ".complete").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
            # The build requirements too, so that later runs build this checkout without
            # fetching them into an isolated build environment each time.
            _pip(venv, *THIRD_PARTY, *_build_requirements(), f"{source}[gradio]")
            (venv / ".complete").touch()
        else:
            _pip(venv, "--no-deps", "--no-build-isolation", "--force-reinstall", str(source))
        (venv / ".used").touch()
    _remove_stale(venv)
    return venv
