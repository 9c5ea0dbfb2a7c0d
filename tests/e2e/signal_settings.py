"""The example project with a slow legacy view and a slow new route, for the signal tests."""

from legacy_django.settings import *  # noqa: F403
from legacy_django.settings import GATEWAY

ROOT_URLCONF = "tests.e2e.slow_urls"
GATEWAY = {**GATEWAY, "API_ROUTERS": {**GATEWAY["API_ROUTERS"], "/slow-api": "tests.e2e.slow_side:router"}}
