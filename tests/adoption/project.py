"""The third-party project: made by its own tool, run by its own ``manage.py``.

Its commands run in its virtualenv with a clean environment: none of this test run's Django
or gateway variables, and nothing of this checkout on the path, so the project imports the
gateway it installed, as any adopter's would.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Project", "start_wagtail_project"]

_LEFT_OUT = ("DJANGO_", "GATEWAY_", "DATABASE_URL", "REDIS_URL", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")


@dataclass(frozen=True)
class Project:
    directory: Path  # holds manage.py
    venv: Path
    settings_module: str
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, command: list[str]) -> list[str]:
        """A command as the guide writes it (``python ...``, ``gunicorn ...``), in the venv."""
        program = self.venv / "bin" / command[0]
        return [str(program) if program.exists() else command[0], *command[1:]]

    def run(self, command: list[str], *, env: dict[str, str] | None = None, timeout: float = 120) -> str:
        """Run it in the project's directory; its output (stdout, then stderr: where Django writes check warnings), or a failure showing it."""
        done = subprocess.run(
            self.argv(command), cwd=self.directory, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout,
        )
        assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done.stdout + done.stderr


def _clean_env(venv: Path, settings_module: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(_LEFT_OUT)}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        DJANGO_SETTINGS_MODULE=settings_module,
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_wagtail_project(venv: Path, parent: Path, name: str = "mysite") -> Project:
    """``wagtail start NAME``: Wagtail's own project template (home page, search page, the
    Wagtail admin at /admin/, Django's admin at /django-admin/), with the settings module its
    ``manage.py`` and ``wsgi.py`` use by default."""
    settings_module = f"{name}.settings.dev"
    env = _clean_env(venv, settings_module)
    subprocess.run([str(venv / "bin" / "wagtail"), "start", name], cwd=parent, env=env, check=True,
                   capture_output=True, timeout=60)
    return Project(directory=parent / name, venv=venv, settings_module=settings_module, env=env)
