from tests.gateway.conftest import gateway, gateway_factory  # noqa: F401 - shared fixtures
