"""``gateway_kwargs_from_env``: each variable reaches its ``create_app`` argument, and a bad
value stops start-up with the variable's name in the message."""

from __future__ import annotations

import pytest

from fastapi_gateway import GatewayConfigurationError
from fastapi_gateway.settings_env import gateway_kwargs_from_env

_BARE = {"GATEWAY_API_ROUTERS": "", "GATEWAY_GRADIO_PAGES": ""}  # nothing imported


def test_the_legacy_body_limits_default_to_nginx_like_values() -> None:
    kwargs = gateway_kwargs_from_env(_BARE)
    assert (kwargs["legacy_body_timeout_seconds"], kwargs["legacy_body_spool_kb"]) == (60.0, 256)


def test_the_legacy_body_limits_are_read_from_the_environment() -> None:
    env = {**_BARE, "GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS": "7.5", "GATEWAY_LEGACY_BODY_SPOOL_KB": "64"}
    kwargs = gateway_kwargs_from_env(env)
    assert (kwargs["legacy_body_timeout_seconds"], kwargs["legacy_body_spool_kb"]) == (7.5, 64)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS", "0"), ("GATEWAY_LEGACY_BODY_TIMEOUT_SECONDS", "soon"), ("GATEWAY_LEGACY_BODY_SPOOL_KB", "-1")],
)
def test_a_bad_legacy_body_limit_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(GatewayConfigurationError, match=variable):
        gateway_kwargs_from_env({**_BARE, variable: value})
