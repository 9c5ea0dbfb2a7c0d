"""The example's Gradio pages, declared as any project declares its own: ``GATEWAY["PAGES"]``
names this ``PAGES`` sequence, and each page names its builder by an import string, so
reading the settings imports neither Gradio nor the models (the gateway builds the pages
after ``django.setup()``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from fastapi_gateway.pages.page import GradioPage

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["PAGES", "GradioPage", "build_pages"]


PAGES: tuple[GradioPage, ...] = (
    GradioPage("/ui/tickets", "Tickets", "gradio_ui.pages.tickets:build"),
    GradioPage("/ui/assistant", "Assistant", "gradio_ui.pages.assistant:build"),
)


def build_pages(pages: Iterable[GradioPage] = PAGES) -> list[tuple[GradioPage, gr.Blocks]]:
    """Build every page once, refusing two pages on one path (the second would be unreachable)."""
    built: list[tuple[GradioPage, gr.Blocks]] = []
    seen: set[str] = set()
    for page in pages:
        if page.path in seen:
            raise ValueError(f"Two Gradio pages share the path {page.path!r}.")
        seen.add(page.path)
        built.append((page, page.blocks()))
    return built
