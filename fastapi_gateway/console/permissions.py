"""Who may see and who may steer the move: the admin's own model permissions.

The console shows and changes what the admin does (route states and their audit trail,
shadow mismatches, parity runs), so it asks what the admin asks: active staff with Django's
``view`` (or ``change``) permission on a model to see it, ``change`` on route states to act
(the admin's own rule for starting a parity run). A superuser has every permission. A staff
account given no permission sees none of it, as in the admin.
"""

from __future__ import annotations

from typing import Any, Literal

from django.contrib.auth import get_permission_codename

__all__ = ["MISMATCHES", "PARITY_RUNS", "ROUTES", "may_change", "may_use_console", "may_view"]

Model = Literal["routestaterecord", "shadowmismatch", "parityrun"]
ROUTES: Model = "routestaterecord"
MISMATCHES: Model = "shadowmismatch"
PARITY_RUNS: Model = "parityrun"


def _permission(action: str, model: Model) -> str:
    from django.apps import apps

    opts = apps.get_model("gateway_routing", model)._meta
    return f"{opts.app_label}.{get_permission_codename(action, opts)}"


def _active_staff(user: Any) -> bool:
    return (getattr(user, "is_authenticated", False) is True and getattr(user, "is_active", False) is True
            and getattr(user, "is_staff", False) is True)


def may_view(user: Any, model: Model) -> bool:
    """Whether ``user`` may see ``model``'s records, as the admin decides (may query: off the loop)."""
    return _active_staff(user) and (user.has_perm(_permission("view", model)) or user.has_perm(_permission("change", model)))


def may_change(user: Any, model: Model) -> bool:
    """Whether ``user`` may change ``model``'s records, as the admin decides (may query: off the loop)."""
    return _active_staff(user) and user.has_perm(_permission("change", model)) is True


def may_use_console(user: Any) -> bool:
    """The console page's rule: staff who may see the route table."""
    return may_view(user, ROUTES)
