"""``GradioPage``: one Gradio page of the project, declared where Django is not set up yet.

A page is named in ``GATEWAY["PAGES"]`` and built by the gateway after ``django.setup()``, so
its builder may be an import string (``"myapp.pages.hello:build"``), imported only then, as
Django imports ``MIDDLEWARE`` entries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.utils.module_loading import import_string

from fastapi_gateway.exceptions import GatewayConfigurationError

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["GradioPage"]


@dataclass(frozen=True)
class GradioPage:
    """A page at ``path`` (``/ui/hello``: no trailing slash), titled ``title`` in the browser's
    tab (through ``GATEWAY["PAGE_TITLE"]``), built by ``build`` (a function returning a
    ``gr.Blocks``, or its import string). ``allowed_paths`` are directories whose files its
    events may return although the request did not write them (Gradio's ``allowed_paths``)."""

    path: str
    title: str
    build: Callable[[], gr.Blocks] | str
    allowed_paths: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.endswith("/") or "//" in self.path or self.path == "/":
            raise GatewayConfigurationError(f"a page path starts with '/' and has no trailing slash, not {self.path!r}")
        if isinstance(self.allowed_paths, str):
            raise GatewayConfigurationError(f"allowed_paths of {self.path} is a list of directories, not a string")

    def blocks(self) -> gr.Blocks:
        """Build the page (importing its builder first if it is named by a string)."""
        import gradio as gr

        builder: Any = self.build
        if isinstance(builder, str):
            builder = import_string(builder.replace(":", "."))
        blocks = builder()
        if not isinstance(blocks, gr.Blocks):
            raise GatewayConfigurationError(f"the builder of {self.path} returned {type(blocks).__name__}, not a gr.Blocks")
        return blocks
