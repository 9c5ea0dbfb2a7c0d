"""Cursor (keyset) pages of a queryset, so a page costs the same on the first page and the
thousandth, however many rows there are.

The cursor names the last row of the page before by the values of the ordering fields, so
the next page is ``WHERE (created_at, id) < (cursor)`` on an index: no ``OFFSET`` scan, and no
row skipped or shown twice when rows are added while a client pages. It is opaque to clients
(URL-safe base64 of JSON) and checked strictly: a cursor only positions a query inside the
rows the user may already see, so a forged one can show nothing else, but a malformed one
is a 400 with a message, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Generic, TypeVar

from django.db.models import Model, Q, QuerySet

__all__ = ["InvalidCursor", "Page", "keyset_page", "encode_cursor", "decode_cursor"]

M = TypeVar("M", bound=Model)

_MAX_CURSOR_LENGTH = 200


class InvalidCursor(ValueError):
    """The ``cursor`` parameter is not one this API handed out."""


@dataclass(frozen=True)
class Page(Generic[M]):
    rows: list[M]
    next_cursor: str | None  # None on the last page


def encode_cursor(moment: datetime, pk: int) -> str:
    raw = json.dumps([moment.isoformat(), pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    if not cursor or len(cursor) > _MAX_CURSOR_LENGTH or not cursor.isascii():
        raise InvalidCursor("Invalid cursor: pass the cursor of a page's Link header unchanged.")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment_text, pk = json.loads(raw)
        moment = datetime.fromisoformat(moment_text)
        if moment.tzinfo is None:
            raise ValueError("no time zone")
        # In UTC here, as the database compares it: a moment a time zone pushes past year 9999
        # or before year 1 (9999-12-31T23:59-01:00) is refused now, not an OverflowError later.
        moment = moment.astimezone(timezone.utc)
    except (binascii.Error, ValueError, TypeError, OverflowError) as exc:  # JSON and unpacking errors are ValueErrors
        raise InvalidCursor("Invalid cursor: pass the cursor of a page's Link header unchanged.") from exc
    if type(pk) is not int or not 0 < pk < 2**63:
        raise InvalidCursor("Invalid cursor: pass the cursor of a page's Link header unchanged.")
    return moment, pk


def keyset_page(rows: QuerySet[M], *, moment_field: str, limit: int, cursor: str | None) -> Page[M]:
    """``limit`` rows of ``rows`` ordered newest ``moment_field`` first (ties by descending
    primary key), starting after ``cursor``; one row more is read to know whether a next page
    exists."""
    ordered = rows.order_by(f"-{moment_field}", "-pk")
    if cursor is not None:
        moment, pk = decode_cursor(cursor)
        # The first condition is redundant with the second; it lets the database start its
        # index scan at the cursor instead of walking the index from the top to find it.
        ordered = ordered.filter(**{f"{moment_field}__lte": moment}).filter(
            Q(**{f"{moment_field}__lt": moment}) | Q(**{moment_field: moment, "pk__lt": pk})
        )
    found = list(ordered[: limit + 1])
    if len(found) <= limit:
        return Page(found, None)
    last = found[limit - 1]
    return Page(found[:limit], encode_cursor(getattr(last, moment_field), last.pk))
