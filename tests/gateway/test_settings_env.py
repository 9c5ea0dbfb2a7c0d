"""``gateway_kwargs_from_env``: each variable reaches its ``create_app`` argument, and a bad
value stops start-up with the variable's name in the message."""

from __future__ import annotations

import pytest

from fastapi_gateway import GatewayConfigurationError
from fastapi_gateway.settings_env import gateway_kwargs_from_env, request_head_limits_from_env

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


def test_the_request_head_limits_default_to_gunicorns() -> None:
    assert request_head_limits_from_env({}) == {"limit_request_line": 4094, "limit_request_fields": 100, "limit_request_field_size": 8190}


def test_the_request_head_limits_are_read_from_the_environment_and_reach_create_app() -> None:
    env = {"GATEWAY_LIMIT_REQUEST_LINE": "8190", "GATEWAY_LIMIT_REQUEST_FIELDS": " 50 ", "GATEWAY_LIMIT_REQUEST_FIELD_SIZE": "16380"}
    expected = {"limit_request_line": 8190, "limit_request_fields": 50, "limit_request_field_size": 16380}
    assert request_head_limits_from_env(env) == expected
    assert gateway_kwargs_from_env({**_BARE, **env}).items() >= expected.items()


@pytest.mark.parametrize("variable", ["GATEWAY_LIMIT_REQUEST_LINE", "GATEWAY_LIMIT_REQUEST_FIELDS", "GATEWAY_LIMIT_REQUEST_FIELD_SIZE"])
@pytest.mark.parametrize("value", ["0", "-1", "lots", "8k"])
def test_a_bad_request_head_limit_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(GatewayConfigurationError, match=variable):
        gateway_kwargs_from_env({**_BARE, variable: value})
