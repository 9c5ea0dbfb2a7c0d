"""One site per server: its own SQLite database, migrated and seeded, and its own media folder.

Migrating and seeding takes seconds, so a run does it once, into a template made fresh for
that run, and gives each server a copy: every server still starts on an untouched database
of its own, and nothing one server writes (sessions, tickets, uploads) is seen by another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROOT", "Site", "SiteFactory", "base_env"]

ROOT = Path(__file__).resolve().parent.parent
METRICS_TOKEN = "bench-metrics-token"


def base_env() -> dict[str, str]:
    """The caller's environment without the project's own variables, as the e2e tests do."""
    prefixes = ("DJANGO_", "GATEWAY_", "DATABASE_URL", "REDIS_URL")
    env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    env.update(DJANGO_SETTINGS_MODULE="legacy_django.settings", GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    return env


@dataclass(frozen=True)
class Site:
    name: str
    directory: Path

    @property
    def database(self) -> Path:
        return self.directory / "db.sqlite3"

    @property
    def media(self) -> Path:
        return self.directory / "media"

    @property
    def env(self) -> dict[str, str]:
        return {
            **base_env(),
            "DATABASE_URL": f"sqlite:///{self.database}",
            "DJANGO_MEDIA_ROOT": str(self.media),
            "GATEWAY_METRICS_TOKEN": METRICS_TOKEN,
        }

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env={**self.env, **(env or {})},
            check=True, capture_output=True, text=True,
        )
        return done.stdout

    def add_attachment(self, source: Path, *, owner: str = "alice") -> int:
        """A ticket of ``owner`` whose attachment is ``source`` (hard-linked into this site's
        media, so several sites share one file on disk); returns the ticket's id."""
        target = self.media / "attachments" / "bench" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
        code = (
            "from django.contrib.auth import get_user_model\n"
            "from legacy_django.tickets.models import Ticket\n"
            f"owner = get_user_model().objects.get(username={owner!r})\n"
            f"ticket = Ticket.objects.create(owner=owner, title='Bench: large attachment', attachment={str(target.relative_to(self.media))!r})\n"
            "print(ticket.pk)\n"
        )
        return int(self.manage("shell", "-c", code).strip().splitlines()[-1])


class SiteFactory:
    """Makes the run's template database once, then a site per server from it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._template: Site | None = None

    def _template_site(self) -> Site:
        if self._template is None:
            template = Site("template", self.root / "template")
            template.directory.mkdir(parents=True, exist_ok=True)
            template.manage("migrate", "--noinput")
            template.manage("seed_demo")
            self._template = template
        return self._template

    def new(self, name: str) -> Site:
        template = self._template_site()
        site = Site(name, self.root / name)
        if site.directory.exists():
            shutil.rmtree(site.directory)
        site.media.mkdir(parents=True)
        shutil.copyfile(template.database, site.database)
        return site
