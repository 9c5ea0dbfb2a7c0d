"""Which files a Gradio page may read, copy into its cache or serve, and for whom.

Deny by default, by where a file came from rather than by a list of forbidden paths. A
client may name (in any event's input) only files the server handed to its user and Django
session: its own uploads, and files Gradio moved into its cache for that user's events. A
page's answer may carry, besides those, only files its own code made for this request: a
regular file of this process's user, written in the system temp directory since the
request arrived (or under the page's ``allowed_paths``), never in Gradio's cache of other
people's files. Files moved into the cache by the pages' own code outside any request (the
values they are built with) are the page's, served to every signed-in user of the pages.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi_gateway.exceptions import FileRefused
from fastapi_gateway.pages.ownership import Owner, OwnershipRegistry

__all__ = ["FileAccess", "PublicFiles", "PUBLIC_FILES", "SCOPE_KEY", "file_references", "served_path"]

#: Where the guard leaves the ``FileAccess`` of a request, for Gradio's event processing.
SCOPE_KEY = "fastapi_gateway.gradio_file_access"

#: A file's change time may lag the clock that stamped the request by the file system's
#: timestamp granularity.
_CLOCK_SLACK_SECONDS = 1.0


def served_path(path: str) -> str:
    """The path Gradio's ``file=`` route opens for ``path`` (``os.path.abspath``, as Gradio)."""
    return os.path.abspath(path)


def _within(path: str, roots: Iterable[str]) -> bool:
    for root in roots:
        if not root:
            continue
        root = os.path.realpath(root)
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


class PublicFiles:
    """Files the pages' own code put in the cache outside any request: bounded, oldest out."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._paths: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, path: str) -> None:
        served = served_path(path)
        with self._lock:
            self._paths[served] = None
            self._paths.move_to_end(served)
            while len(self._paths) > self.max_entries:
                self._paths.popitem(last=False)

    def __contains__(self, path: object) -> bool:
        with self._lock:
            return isinstance(path, str) and served_path(path) in self._paths


PUBLIC_FILES = PublicFiles()


@dataclass(frozen=True)
class FileAccess:
    """The files one client request may name and receive.

    ``owner`` is ``None`` for a request whose user could not be told (a batch mixing users,
    an event without its request): it may name no file, and what it produces is nobody's.
    """

    owner: Owner | None
    registry: OwnershipRegistry | None
    started: float

    def holds(self, path: str) -> bool:
        """Whether this client may name ``path``: handed to its owner, or a page's own file."""
        if path in PUBLIC_FILES:
            return True
        if self.owner is None or self.registry is None:
            return False
        return self.registry.owns("file", served_path(path), self.owner)

    def record(self, path: str) -> None:
        """``path`` was put in Gradio's cache for this request: its owner may fetch it."""
        if self.owner is not None and self.registry is not None:
            self.registry.grant("file", served_path(path), self.owner)

    def check_incoming(self, path: str) -> None:
        """A file named by the client (an event's input): only its own."""
        if not self.holds(path):
            raise FileRefused(path, "this file was not uploaded by you or given to you in this session")

    def check_outgoing(
        self, path: str, *, cache_dir: str, allowed_paths: Iterable[str] = (), blocked_paths: Iterable[str] = ()
    ) -> None:
        """A file in a page's answer: the client's own, or one the page made for this request."""
        real = os.path.realpath(path)
        if _within(real, blocked_paths):
            raise FileRefused(path, "it is in one of the page's blocked_paths")
        if self.holds(path):
            return
        if _within(real, allowed_paths):
            return
        if _within(real, [cache_dir]):
            raise FileRefused(path, "it is another user's file")
        if not (_within(real, [tempfile.gettempdir()]) and self._made_for_this_request(real)):
            raise FileRefused(
                path,
                "a page may return only files it wrote in the temp directory during this request, "
                "or files under its allowed_paths",
            )

    def _made_for_this_request(self, real: str) -> bool:
        try:
            info = os.stat(real)
        except OSError:
            return False
        return (
            stat.S_ISREG(info.st_mode)
            and info.st_uid == os.geteuid()
            and info.st_nlink == 1
            and info.st_ctime >= self.started - _CLOCK_SLACK_SECONDS
        )


def file_references(payload: Any) -> Iterator[str]:
    """Every value Gradio could take for a file in a client's JSON: a string under ``path``
    in any object, nested anywhere (FileData, chat messages, JSON values, event data)."""
    stack: list[Any] = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            path = item.get("path")
            if isinstance(path, str):
                yield path
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
