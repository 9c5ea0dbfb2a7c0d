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
from starlette.routing import BaseRoute

from fastapi_gateway.exceptions import GatewayConfigurationError

if TYPE_CHECKING:
    import gradio as gr

__all__ = ["GradioPage"]


@dataclass(frozen=True)
class GradioPage:
    """A page at ``path`` (``/ui/hello``: no trailing slash), titled ``title`` in the browser's
    tab (through ``GATEWAY["PAGE_TITLE"]``), built by ``build`` (a function returning a
    ``gr.Blocks``, or its import string). ``allowed_paths`` are directories whose files its
    events may return although the request did not write them (Gradio's ``allowed_paths``).

    Every signed-in user may use a page unless it says otherwise: ``staff_only=True`` wants
    ``user.is_staff``, ``permission`` (a callable taking the Django user, or its import
    string) must return ``True``. The gateway's guard enforces both on every request under
    the page's path, its API, queue and files included (see ``pages.access``). ``routes``
    are Starlette routes under the page's path (a download, a report), served before the page
    and behind the same guard and rule."""

    path: str
    title: str
    build: Callable[[], gr.Blocks] | str
    allowed_paths: Sequence[str] = ()
    staff_only: bool = False
    permission: Callable[[Any], bool] | str | None = None
    routes: Sequence[BaseRoute] = ()

    def __post_init__(self) -> None:
        if not self.path.startswith("/") or self.path.endswith("/") or "//" in self.path or self.path == "/":
            raise GatewayConfigurationError(f"a page path starts with '/' and has no trailing slash, not {self.path!r}")
        if isinstance(self.allowed_paths, str):
            raise GatewayConfigurationError(f"allowed_paths of {self.path} is a list of directories, not a string")
        if not isinstance(self.staff_only, bool):
            raise GatewayConfigurationError(f"staff_only of {self.path} is True or False, not {self.staff_only!r}")
        if self.permission is not None and not (isinstance(self.permission, str) or callable(self.permission)):
            raise GatewayConfigurationError(f"permission of {self.path} is a callable or its import string, not {self.permission!r}")
        outside = [str(getattr(route, "path", route)) for route in self.routes
                   if not str(getattr(route, "path", "")).startswith(self.path + "/")]
        if outside:
            raise GatewayConfigurationError(f"routes of {self.path} serve URLs outside it: {', '.join(outside)}")

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
