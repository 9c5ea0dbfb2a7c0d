"""The Gradio pages the gateway mounts: adding a page is one module plus one line in ``PAGES``.

Page modules import the Django models, which cannot be imported before ``django.setup()``;
the gateway may import this registry earlier (to read its configuration), so each page is
named by an import string and imported only when it is built, as Django does with
``MIDDLEWARE`` and ``AUTHENTICATION_BACKENDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["PAGES", "GradioPage", "build_pages", "lazy_build"]


@dataclass(frozen=True)
class GradioPage:
    """One page: its mount path (``/ui/tickets``, no trailing slash), tab title and builder."""

    path: str
    title: str
    build: Callable[[], gr.Blocks]

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.endswith("/") or "//" in self.path:
            raise ValueError(
                f"A page path starts with '/' and has no trailing slash, got {self.path!r}."
            )


def lazy_build(dotted_path: str) -> Callable[[], gr.Blocks]:
    """A builder that imports ``module.function`` on first call, so Django is set up by then."""

    def build() -> gr.Blocks:
        import gradio as gr

        blocks = import_string(dotted_path)()
        if not isinstance(blocks, gr.Blocks):
            raise TypeError(f"{dotted_path} returned {type(blocks).__name__}, not gr.Blocks.")
        return blocks

    build.__qualname__ = f"lazy_build({dotted_path!r})"
    return build


PAGES: tuple[GradioPage, ...] = (
    GradioPage("/ui/tickets", "Tickets", lazy_build("gradio_ui.pages.tickets.build")),
    GradioPage("/ui/assistant", "Assistant", lazy_build("gradio_ui.pages.assistant.build")),
)


def build_pages(pages: Iterable[GradioPage] = PAGES) -> list[tuple[GradioPage, gr.Blocks]]:
    """Build every page once, refusing two pages on one path (the second would be unreachable)."""
    built: list[tuple[GradioPage, gr.Blocks]] = []
    seen: set[str] = set()
    for page in pages:
        if page.path in seen:
            raise ValueError(f"Two Gradio pages share the path {page.path!r}.")
        seen.add(page.path)
        built.append((page, page.build()))
    return built
