"""Rows of a side-by-side diff of two observations, built with ``difflib``.

The status line and compared headers come first, then the body, each line carrying the
path of what it shows, so rows can be marked by *field*: a row of a differing field, or of
a noise field, whether or not its text happens to differ.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.observation import Observation
from fastapi_gateway.parity.selectors import is_under

__all__ = ["Row", "Cell", "diff_rows", "observation_lines"]


@dataclass(frozen=True)
class Cell:
    number: int
    path: str
    text: str


@dataclass(frozen=True)
class Row:
    kind: str  # equal, replace, delete, insert, skip
    left: Cell | None = None
    right: Cell | None = None
    skipped: int = 0


def observation_lines(observation: Observation | None) -> list[tuple[str, str]]:
    if observation is None:
        return []
    lines: list[tuple[str, str]] = []
    if observation.status is not None:
        lines.append(("status", f"HTTP {observation.status}"))
        lines += [(f"header:{name}" if name != "set-cookie" else f"cookie:{value.split('=', 1)[0]}", f"{name}: {value}")
                  for name, value in observation.headers]
        lines.append(("", ""))
    return lines + observation.lines


def marks(path: str, differences: Sequence[Difference]) -> bool:
    """Whether a line showing ``path`` shows one of ``differences``."""
    if not path:
        return False
    for difference in differences:
        target = difference.path
        if target.endswith(".length"):
            if path == target[: -len(".length")]:
                return True
        elif is_under(path, target):
            return True
    return False


def diff_rows(left: Sequence[tuple[str, str]], right: Sequence[tuple[str, str]], *, context: int = 3) -> list[Row]:
    left_texts, right_texts = [text for _, text in left], [text for _, text in right]
    matcher = difflib.SequenceMatcher(None, left_texts, right_texts, autojunk=False)

    def cell(lines: Sequence[tuple[str, str]], index: int) -> Cell:
        return Cell(index + 1, lines[index][0], lines[index][1])

    rows: list[Row] = []
    shown_until = 0
    for group in matcher.get_grouped_opcodes(context):
        start = group[0][1]
        if start > shown_until:
            rows.append(Row("skip", skipped=start - shown_until))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [Row("equal", cell(left, i1 + k), cell(right, j1 + k)) for k in range(i2 - i1)]
                continue
            length = max(i2 - i1, j2 - j1)
            for k in range(length):
                left_cell = cell(left, i1 + k) if i1 + k < i2 else None
                right_cell = cell(right, j1 + k) if j1 + k < j2 else None
                rows.append(Row(tag, left_cell, right_cell))
        shown_until = group[-1][2]
    if rows and shown_until < len(left):
        rows.append(Row("skip", skipped=len(left) - shown_until))
    return rows
