"""What a comparison leaves out or tolerates, merged from the route, the case and the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi_gateway.migrated_route import MigratedRoute

__all__ = ["Rules"]


@dataclass(frozen=True)
class Rules:
    """``ignore`` and ``unordered`` hold selectors (see ``selectors``); tolerances are absolute
    (a number, seconds between two timestamps); ``headers`` adds response headers to the
    compared ones; ``page`` marks a new side that is another document (a Gradio page for a
    Django template): only status, content type and redirects can agree there;
    ``compare_cookies=False`` when one side's headers were only kept as a dict (one cookie)."""

    ignore: tuple[str, ...] = ()
    unordered: tuple[str, ...] = ()
    number_tolerance: float = 0.0
    time_tolerance: float = 0.0
    headers: tuple[str, ...] = ()
    ignore_cookies: tuple[str, ...] = ()
    page: bool = False
    compare_cookies: bool = True

    @classmethod
    def for_route(cls, route: MigratedRoute) -> Rules:
        return cls(ignore=tuple(route.parity_ignore), unordered=tuple(route.parity_unordered), page=route.page)

    def plus(self, other: Rules) -> Rules:
        return Rules(
            ignore=_union(self.ignore, other.ignore),
            unordered=_union(self.unordered, other.unordered),
            number_tolerance=max(self.number_tolerance, other.number_tolerance),
            time_tolerance=max(self.time_tolerance, other.time_tolerance),
            headers=_union(self.headers, other.headers),
            ignore_cookies=_union(self.ignore_cookies, other.ignore_cookies),
            page=self.page or other.page,
            compare_cookies=self.compare_cookies and other.compare_cookies,
        )


def _union(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*first, *second)))
