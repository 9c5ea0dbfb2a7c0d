"""docs/adopting.md as the adoption test reads it: its files, settings lines and commands.

The test takes every file it writes and every command it runs from the guide, so a guide
that drifts from the code fails the test instead of misleading a reader. A code block names
its file on its first line (``# myapp/api.py``); a settings line the guide asks to switch on
is a one-line block indented like a key of the ``GATEWAY`` dict; a command is a ``$ `` line of
a ``console`` block.
"""

from __future__ import annotations

import re
import shlex
from functools import cached_property
from pathlib import Path

__all__ = ["Guide"]

_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


class Guide:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = path.read_text(encoding="utf-8")

    @cached_property
    def _blocks(self) -> list[tuple[str, str]]:
        return [(match[1], match[2]) for match in _BLOCK.finditer(self.text)]

    def file(self, name: str) -> str:
        """The code block whose first line is ``# <name>`` (that line kept: it is a comment)."""
        found = [code for language, code in self._blocks if language == "python" and code.startswith(f"# {name}")]
        assert len(found) == 1, f"{self.path.name} should show {name} in exactly one block, found {len(found)}"
        return found[0]

    def switched_on(self, key: str) -> str:
        """The settings line, shown alone, that switches ``GATEWAY[key]`` on."""
        found = [
            code.rstrip("\n") for language, code in self._blocks
            if language == "python" and code.count("\n") == 1 and code.lstrip().startswith(f'"{key}":')
        ]
        assert len(found) == 1, f"{self.path.name} should show the line switching {key} on once, found {len(found)}"
        return found[0]

    @cached_property
    def commands(self) -> list[str]:
        return [
            line[2:].strip()
            for language, code in self._blocks if language == "console"
            for line in code.splitlines() if line.startswith("$ ")
        ]

    def command(self, line: str, **replace: str) -> list[str]:
        """``line``, which the guide must show as a command, split as a shell would, with the
        words in ``replace`` (``{"8000": "41234"}``) swapped for this run's values."""
        assert line in self.commands, f"{self.path.name} does not tell the reader to run {line!r}"
        return [replace.get(word, word) for word in shlex.split(line)]
