"""What the guard's records and Gradio's own records of a tab cost, measured in the bench's
process with ``tracemalloc`` (section k): what a server's RSS cannot tell apart."""

from __future__ import annotations

import gc
import hashlib
import secrets
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from fastapi_gateway.pages.ownership import MAX_SESSIONS_PER_USER, Kind, Owner, OwnershipRegistry
from tests.gradio_protocol import new_session_hash

from .guard_tabs import ENTRIES_PER_TAB

__all__ = ["FloodRest", "flood_rest", "guard_kib_per_tab", "traced_kib", "upload_path"]

_Kept = TypeVar("_Kept")


def upload_path(folder: Path, number: int) -> str:
    return str(folder / hashlib.sha256(str(number).encode()).hexdigest() / "notes.txt")


def traced_kib(run: Callable[[], _Kept], per: int) -> tuple[float, _Kept]:
    """KiB per ``per`` that ``run`` leaves allocated (what it returns is kept alive until measured)."""
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        kept = run()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return (after - before) / 1024 / per, kept


def guard_kib_per_tab(count: int, logins_count: int, folder: Path) -> float:
    """The guard's own records of a tab, measured in this process: an ``OwnershipRegistry``
    given ``count`` tabs' identifiers, shaped as the server's, over ``logins_count`` logins."""
    logins = [Owner.of(1 + number // MAX_SESSIONS_PER_USER, secrets.token_hex(16)) for number in range(logins_count)]

    def fill() -> OwnershipRegistry:
        registry = OwnershipRegistry()
        for number in range(count):
            owner = logins[number % logins_count]
            registry.claim("session", new_session_hash(), owner)
            registry.grant("event", uuid.uuid4().hex, owner)
            registry.claim("upload", secrets.token_hex(6), owner)
            registry.grant("file", upload_path(folder, number), owner)
        return registry

    kib, registry = traced_kib(fill, count)
    if len(registry) != count * ENTRIES_PER_TAB:
        raise AssertionError("the registry should hold every record of the first curve")
    return kib


@dataclass(frozen=True)
class FloodRest:
    """What one login's tab past its 64 sessions still leaves per tab, KiB (``tracemalloc``)."""

    guard: float  # the login's other records of the tab (event, upload, file)
    progress: float  # Gradio's progress record of the upload (FileUploadProgress._signals)
    upload_set: float  # Blocks.upload_file_set: the uploaded path, never dropped
    pending_ids: float  # Gradio's queue: the session's emptied set of pending event ids, never dropped

    @property
    def total(self) -> float:
        return self.guard + self.progress + self.upload_set + self.pending_ids


def flood_rest(flood: int, flat_from: int, upload_bytes: int, folder: Path) -> FloodRest:
    """Replays the flood's records in this process, tab ``flat_from`` to its end: the guard's
    registry (its session budget letting go of the oldest), Gradio's own ``FileUploadProgress``
    fed as its upload route and ``upload_progress`` stream feed it (and emptied as the guard's
    ``forget_gradio_upload`` empties it, for each upload the registry lets go of), and a set of
    the uploaded paths as ``Blocks.upload_file_set``. Each part is measured alone."""
    from gradio.route_utils import FileUploadProgress

    owner = Owner.of(10_000, secrets.token_hex(16))
    tabs = range(flood)  # identifiers made afresh at each use, as the server's are

    def forget(progress: FileUploadProgress) -> Callable[[Kind, str], None]:
        def released(kind: Kind, identifier: str) -> None:
            if kind == "upload":
                progress._statuses.pop(identifier, None)
                progress._signals.pop(identifier, None)
        return released

    def record(registry: OwnershipRegistry, chosen: Sequence[int]) -> OwnershipRegistry:
        for number in chosen:
            registry.claim("session", f"{number:012x}", owner)
            registry.grant("event", hashlib.md5(str(number).encode()).hexdigest(), owner)
            registry.claim("upload", f"u{number:011x}", owner)
            registry.grant("file", upload_path(folder, number), owner)
        return registry

    def track(progress: FileUploadProgress, chosen: Sequence[int]) -> FileUploadProgress:
        for number in chosen:
            upload_id = f"u{number:011x}"
            progress.track(upload_id)
            progress.append(upload_id, "notes.txt", b"." * upload_bytes)
            progress.set_done(upload_id)
            progress.is_done(upload_id)
            progress.stop_tracking(upload_id)
        return progress

    before, after = tabs[:flat_from], tabs[flat_from:]
    registry = record(OwnershipRegistry(), before)
    guard, _ = traced_kib(lambda: record(registry, after), len(after))
    progress = FileUploadProgress()
    registry = record(OwnershipRegistry(on_release=forget(progress)), before)
    track(progress, before)
    # Gradio's progress records, with the registry letting uploads go as the guard does: the
    # registry's own share measured above is taken off.
    both, _ = traced_kib(lambda: (record(registry, after), track(progress, after)), len(after))
    paths = {upload_path(folder, number) for number in before}
    upload_set, _ = traced_kib(lambda: paths.update(upload_path(folder, number) for number in after), len(after))
    pending: dict[str, set[str]] = {f"{number:012x}": set() for number in before}

    def join() -> None:  # Queue.push, then the completed event's stream, as Gradio does
        for number in after:
            ids = pending.setdefault(f"{number:012x}", set())
            event_id = uuid.uuid4().hex
            ids.add(event_id)
            ids.remove(event_id)

    pending_ids, _ = traced_kib(join, len(after))
    return FloodRest(guard, both - guard, upload_set, pending_ids)
