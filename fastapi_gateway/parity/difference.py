"""One place where the two answers disagree, named the way a reader looks for it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi_gateway.parity.selectors import is_under

__all__ = ["Difference", "CHANGED", "MISSING", "EXTRA", "TYPE", "split_noise"]

CHANGED = "changed"  # both sides have it, with different values
MISSING = "missing"  # only the legacy side has it
EXTRA = "extra"  # only the new side has it
TYPE = "type"  # both have it, as different kinds of value (a string and a number)


@dataclass(frozen=True)
class Difference:
    """Its path (``$.title``, ``/html/body/h1/text()``, ``status``), both values, and its kind.

    The kind matters to noise: a value that varies between two legacy answers is noise, but
    the new side leaving that field out, or changing its type, is still a difference.
    """

    path: str
    legacy: Any
    new: Any
    kind: str = CHANGED

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "legacy": self.legacy, "new": self.new, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Difference:
        return cls(str(data.get("path", "?")), data.get("legacy"), data.get("new"), str(data.get("kind", CHANGED)))

    def describe(self) -> str:
        """One line for a terminal or a test failure: JSON values as JSON, anything else as text."""
        as_json = self.path.startswith("$")
        if self.kind == MISSING:
            return f"{self.path}: only in legacy ({_short(self.legacy, as_json)})"
        if self.kind == EXTRA:
            return f"{self.path}: only in new ({_short(self.new, as_json)})"
        return f"{self.path}: {_short(self.legacy, as_json)} → {_short(self.new, as_json)}"


def _short(value: Any, as_json: bool, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if as_json or not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Noise: what differs between two answers of the legacy side itself (Diffy's idea).  Each case
# asks the legacy side twice; a field that changed between those two answers (a timestamp, a
# token, a random order) says nothing about the new side, so a difference there is reported as
# noise, not as a failure. Unlike Diffy, noise only excuses a *value*: a new side that leaves a
# noisy field out, adds it, or changes its type is still a difference — unless the legacy side
# itself did that between its two answers.


def _excused(difference: Difference, noise: Difference) -> bool:
    if not is_under(difference.path, noise.path):
        return False
    return difference.kind == CHANGED or noise.kind != CHANGED or noise.path.endswith(".length")


def split_noise(differences: Sequence[Difference], noise: Sequence[Difference]) -> tuple[list[Difference], list[Difference]]:
    """``(real, noisy)``: the differences of legacy vs new that the legacy-vs-legacy ``noise`` excuses."""
    real: list[Difference] = []
    noisy: list[Difference] = []
    for difference in differences:
        (noisy if any(_excused(difference, known) for known in noise) else real).append(difference)
    return real, noisy
