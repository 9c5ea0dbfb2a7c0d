"""The example project with ``api-tickets`` moved onto the breakable new side of ``flaky_side``."""

from legacy_django.settings import *  # noqa: F403
from legacy_django.settings import GATEWAY

GATEWAY = {
    **GATEWAY,
    "API_ROUTERS": {**GATEWAY["API_ROUTERS"], "/flaky": "tests.e2e.flaky_side:router"},
    "ROUTES": "tests.e2e.flaky_side:ROUTES",
}
