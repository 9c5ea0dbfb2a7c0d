"""Who may use a page beyond being signed in: staff only, or a permission of the project's.

The guard asks the page's rule on every request under its mount — the page, its config, the
queue, uploads, files and open streams — so a page cannot be restricted on its HTML alone
while its API stays open. A rule that cannot decide refuses: a permission that raises, or
answers anything but ``True``, denies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.module_loading import import_string

from fastapi_gateway.exceptions import GatewayConfigurationError
from fastapi_gateway.orm import run_orm

__all__ = ["EVERYONE", "PageAccess", "page_access"]

logger = logging.getLogger("fastapi_gateway")

Permission = Callable[[Any], bool]


@dataclass(frozen=True)
class PageAccess:
    """``staff_only`` wants ``user.is_staff``; ``permission(user)`` (for instance
    ``lambda user: user.has_perm("app.view_thing")``) must return ``True``. Both apply when both
    are given; neither means every signed-in user."""

    staff_only: bool = False
    permission: Permission | None = None

    @property
    def restricted(self) -> bool:
        return self.staff_only or self.permission is not None

    def allows(self, user: Any) -> bool:
        """Whether ``user`` may use the page (may run ORM work: call it off the event loop)."""
        if getattr(user, "is_authenticated", False) is not True or getattr(user, "is_active", True) is not True:
            return False
        if self.staff_only and getattr(user, "is_staff", False) is not True:
            return False
        if self.permission is None:
            return True
        try:
            return self.permission(user) is True
        except Exception:  # noqa: BLE001 - a permission that cannot decide refuses
            logger.exception("a page permission raised; access refused")
            return False

    async def aallows(self, user: Any) -> bool:
        """``allows`` from async code: a project's permission runs in a worker thread."""
        if self.permission is None:
            return self.allows(user)
        return await run_orm(self.allows, user)


EVERYONE = PageAccess()


def page_access(page: Any) -> PageAccess:
    """The rule a page declares (``GradioPage(staff_only=..., permission=...)``); a page object
    without those attributes is open to every signed-in user."""
    staff_only = getattr(page, "staff_only", False)
    permission = getattr(page, "permission", None)
    if isinstance(permission, str):
        permission = import_string(permission.replace(":", "."))
    if not isinstance(staff_only, bool) or (permission is not None and not callable(permission)):
        raise GatewayConfigurationError(
            f"the page {getattr(page, 'path', page)!r}: staff_only is True or False and permission a callable, "
            f"not {staff_only!r} and {permission!r}"
        )
    return PageAccess(staff_only=staff_only, permission=permission) if staff_only or permission else EVERYONE
