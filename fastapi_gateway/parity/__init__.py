"""Compare the legacy and the new answer to the same request, the way people read them."""

from __future__ import annotations

from .compare import Difference, compare_json, compare_responses

__all__ = ["Difference", "compare_json", "compare_responses"]
