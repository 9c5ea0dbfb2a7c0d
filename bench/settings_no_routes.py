"""The bundled project's settings without a route table: the gateway as it was before routing.

``GATEWAY["ROUTES"]`` has no environment variable (it is code, not configuration), so the
routing-cost figure selects this module with ``DJANGO_SETTINGS_MODULE`` instead.
"""

from legacy_django.settings import *  # noqa: F403
from legacy_django.settings import GATEWAY as _EXAMPLE

GATEWAY = {**_EXAMPLE, "ROUTES": None}
