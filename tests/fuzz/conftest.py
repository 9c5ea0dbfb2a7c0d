"""A gateway of its own for fuzzing, so its log holds only what the fuzzer provoked."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.e2e.conftest import GatewayServer, running_gateway

# CI runs a short, reproducible pass; `make fuzz` runs FUZZ_EXAMPLES (10,000 and more) with
# fresh randomness.
settings.register_profile(
    "ci",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    database=None,
)
settings.load_profile("ci")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path_factory.mktemp("fuzz")) as server:
        yield server
