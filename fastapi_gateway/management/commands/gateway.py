"""``manage.py gateway startpage NAME [DIRECTORY]``: a working Gradio page for this project.

Written by Django's own ``TemplateCommand`` (what ``startapp`` uses) from the templates in
``fastapi_gateway/management/page_template``: a package with the page (the user lookup, the
account bar), and its tests; then says how to register it.
"""

from __future__ import annotations

import re
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.templates import TemplateCommand

TEMPLATE = Path(__file__).resolve().parent.parent / "page_template"
_PATH = re.compile(r"(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+")


class _PageTemplate(TemplateCommand):
    """``startapp``'s machinery, naming the thing it writes "a page"."""

    def __init__(self, command: BaseCommand) -> None:
        super().__init__()
        self.stdout, self.stderr = command.stdout, command.stderr


class Command(BaseCommand):
    help = "Gateway tools for this project. `startpage NAME`: write a working Gradio page."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, parser_class=ArgumentParser)
        start = commands.add_parser("startpage", help="write a Gradio page package NAME (in DIRECTORY, default: here)")
        start.add_argument("name", help="the page's package name, a Python identifier (e.g. hello)")
        start.add_argument("directory", nargs="?", help="an existing directory to write the package's files into")
        start.add_argument("--path", dest="page_path", help="the page's URL path (default: /ui/NAME)")
        start.add_argument("--title", dest="page_title", help="the page's title (default: NAME in title case)")

    def handle(self, *args: Any, **options: Any) -> None:
        name: str = options["name"]
        page = _PageTemplate(self)
        page.app_or_project, page.a_or_an = "page", "a"
        page.validate_name(name)  # before anything is created: a bad name leaves no directory behind
        page_path = (options.get("page_path") or f"/ui/{name}").rstrip("/")
        if not _PATH.fullmatch(page_path):
            raise CommandError(f"--path must be a URL path such as /ui/{name}, not {options['page_path']!r}")
        title = options.get("page_title") or name.replace("_", " ").title()
        target = options.get("directory")
        if target:
            target_dir = Path(target).expanduser().resolve() / name
            if target_dir.exists():
                raise CommandError(f"'{target_dir}' already exists")
            target_dir.mkdir(parents=True)
            target = str(target_dir)
        page.handle(
            "page", name, target, template=str(TEMPLATE), extensions=["py"], files=[], exclude=None,
            verbosity=options["verbosity"], page_path=page_path,
            page_title=re.sub(r'[\\"\n\r]', "", title),  # for the docstrings: nothing that ends or escapes one
            page_title_literal=repr(title),  # the TITLE constant: any text, as a Python literal
        )
        where = Path(target) if target else Path.cwd() / name
        self.stdout.write(self.style.SUCCESS(f"Wrote the page {page_path}/ in {where}/ (page.py, tests.py)."))
        self.stdout.write(
            "Register it in your settings:\n"
            f'    GATEWAY = {{..., "PAGES": [..., "{name}.page:PAGE"]}}\n'
            f"Test it with `manage.py test {name}`; serve the project (python -m fastapi_gateway) and open {page_path}/ signed in."
        )
