"""The supported Python x Django pairs, each tested in a virtualenv of its own.

``nox -l`` lists them; ``make matrix`` runs the in-process core on every pair;
``nox -s "tests(python='3.13', django='6.1')" -- tests`` runs the given pytest arguments
(here the whole suite) on one pair. ``make test`` stays the full run on 3.11 + Django 5.2.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import nox

# uv makes a pair's venv in seconds (pip took about 1.5 minutes a pair of CI's run); plain venv
# and pip where uv is missing.
nox.options.default_venv_backend = "uv|venv"
nox.options.sessions = ["tests"]

# Django 6.0 and 6.1 need Python 3.12 or newer.
PAIRS = [
    ("3.11", "5.2"),
    ("3.12", "5.2"),
    ("3.12", "6.0"),
    ("3.12", "6.1"),
    ("3.13", "5.2"),
    ("3.13", "6.0"),
    ("3.13", "6.1"),
]
# The pairs CI runs the core on (tag "ci") beside `make test`'s 3.11 + 5.2: with it, every
# Python and every Django minor at least once. (3.13 + 5.2, the LTS on the newest Python, was a
# third: 3.5 minutes of a CI run that must stay well under 20; `make matrix` runs every pair.)
CI_PAIRS = {("3.12", "6.0"), ("3.13", "6.1")}

# In process only, about a minute and a half: the session adapter over every engine, the
# legacy bridge and mount, the route table, parity (its pytest plugin included), the
# Gradio pages mounted and driven through their queue, the settings and system checks, and
# the compatibility module's checks of Django's, Starlette's, uvicorn's and Gradio's
# private APIs. Left to the full suite: real servers and browsers, and the slowest
# exhaustive tables (foreign hosts, the Gradio guard's route families, file hooks).
CORE = [
    "tests/gateway",
    "tests/legacy",
    "tests/parity",
    "--ignore=tests/gateway/server",
    "--ignore=tests/gateway/http/test_trusted_host.py",
    "--ignore=tests/gateway/pages/test_guard.py",
    "--ignore=tests/gateway/pages/test_file_hooks.py",
    "--ignore=tests/gateway/pages/test_request_shape.py",
    "--ignore=tests/gateway/pages/test_ownership.py",
    "-m",
    "not e2e and not browser and not deploy and not fuzz",
]


def _pyenv_interpreters_on_path() -> None:
    """pyenv's shims answer ``python3.12`` only while ``pyenv global`` names 3.12: the newest
    installed release of each Python the pairs need goes first on PATH instead."""
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    versions = Path(root) / "versions"
    if not versions.is_dir():
        return  # then python3.12 etc. must be on PATH already
    needed = sorted({python for python, _ in PAIRS})
    found: dict[str, Path] = {}
    for version in sorted(versions.iterdir(), key=_version_key):  # a newer patch release replaces an older
        minor = ".".join(version.name.split(".")[:2])
        if minor in needed and (version / "bin" / f"python{minor}").exists():
            found[minor] = version / "bin"
    bins = [str(found[minor]) for minor in needed if minor in found]
    os.environ["PATH"] = os.pathsep.join([*bins, os.environ.get("PATH", "")])


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in path.name.split("."))


_pyenv_interpreters_on_path()


@nox.session
@nox.parametrize(
    ("python", "django"),
    [nox.param(python, django, tags=["ci"] if (python, django) in CI_PAIRS else []) for python, django in PAIRS],
)
def tests(session: nox.Session, django: str) -> None:
    """mypy (unless MATRIX_MYPY=0) and the core on one Python and Django minor; or only the pytest
    arguments given after ``--``."""
    if session.venv_backend != "uv":
        session.install("--quiet", "--upgrade", "pip>=25.1")  # --group needs it
    session.install("--quiet", "-e", ".[all,test]", "--group", "example", f"Django~={django}.0")
    session.run("python", "-c", "import django, sys; print(sys.version.split()[0], 'Django', django.__version__)")
    if not session.posargs and os.environ.get("MATRIX_MYPY", "1") != "0":
        session.run("mypy", "--cache-dir", str(Path(session.virtualenv.location) / ".mypy_cache"))
    session.run(
        "python", "-m", "pytest", "-p", "no:cacheprovider", "-q", *(session.posargs or CORE),
        env={"GRADIO_ANALYTICS_ENABLED": "False", "TEST_REDIS_URL": _redis_url(session.python, django)},
    )


def _redis_url(python: object, django: str) -> str:
    """A Redis database of the pair's own (13, 12, ...; make test's are 15 and, for its deploy
    tests, 14): pairs run side by side (``nox`` in two shells) never share keys."""
    return f"redis://127.0.0.1:6379/{13 - PAIRS.index((str(python), django))}"
