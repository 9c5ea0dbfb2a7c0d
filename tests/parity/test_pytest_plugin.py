"""The pytest plugin, run as a team would: ``pytest --parity`` on a file of ordinary tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TEAM_TESTS = '''
import io

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def demo_data(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    call_command("seed_demo", stdout=io.StringIO())


@pytest.mark.parity(route="api-tickets")
async def test_open_tickets_agree(parity):
    result = await parity("/api/tickets/?status=open", "/api/v2/tickets?status=open", user="alice")
    assert result.outcome == "agree"


async def test_a_wrong_url_is_caught(parity):
    await parity("/api/tickets/?status=open", "/api/v2/tickets?status=closed", user="alice")


@pytest.mark.parity(raise_on_mismatch=False, ignore=["$[*].updated_at"])
async def test_observed_without_failing(parity):
    result = await parity("/api/tickets/", "/api/v2/tickets?status=open", user="bob")
    assert result.outcome == "differ" and "$.length" in result.fields()


async def test_an_experiment_returns_the_control(parity):
    value = await parity.experiment("sum", control=lambda: sum([1, 2]), candidate=lambda: 1 + 2)
    assert value == 3


def test_an_ordinary_test():
    pass
'''


def test_pytest_parity_runs_parity_tests_fails_on_mismatch_and_reports(tmp_path: Path) -> None:
    (tmp_path / "test_team.py").write_text(TEAM_TESTS)
    report = tmp_path / "parity.json"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DATABASE_URL", "PYTEST_"))}
    # The team's project (here the example) is importable from where its tests run, as a
    # project's own directory is; only the gateway is an installed package.
    project_root = str(Path(__file__).resolve().parents[2])
    env.update(DJANGO_SETTINGS_MODULE="legacy_django.settings", GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=project_root)
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "test_team.py", "--parity", f"--parity-report={report}", "-p", "no:cacheprovider",
         "--strict-markers", "-W", "error", "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function",
         f"--rootdir={tmp_path}", "-q"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    output = finished.stdout + finished.stderr
    assert finished.returncode == 1, output
    assert "1 failed, 3 passed, 1 deselected" in output
    assert "ParityMismatch: parity: api-tickets · GET /api/tickets/?status=open (as alice) differs at" in output
    assert "= parity =" in output and "api-tickets" in output and "functions" in output
    data = json.loads(report.read_text())
    assert data["totals"] == {"cases": 4, "agree": 2, "differ": 2, "noise": 0, "errors": 0}
