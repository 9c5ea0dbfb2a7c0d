"""The ``GATEWAY`` setting: defaults, operators' ``GATEWAY_*`` overrides, ``manage.py check``
and ``create_app`` agreeing on what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

import gradio_ui  # noqa: F401  (imported, as by a running site: the check then looks inside it)
from fastapi_gateway import GatewayConfigurationError, create_app
from fastapi_gateway.conf import DEFAULTS, gateway_settings, problems

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_has_a_default_and_a_project_without_gateway_gets_them(settings: Any) -> None:
    del settings.GATEWAY
    effective = gateway_settings({})
    assert effective == DEFAULTS
    assert effective["API_ROUTERS"] == {} and effective["PAGES"] == [] and effective["ROUTES"] is None


def test_the_project_s_dict_then_the_environment(settings: Any) -> None:
    settings.GATEWAY = {"LEGACY_THREADS": 8, "MAX_UPLOAD_MB": 10}
    effective = gateway_settings({"GATEWAY_LEGACY_THREADS": "2", "GATEWAY_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.0/8"})
    assert (effective["LEGACY_THREADS"], effective["MAX_UPLOAD_MB"]) == (2, 10)
    assert effective["TRUSTED_PROXIES"] == ["10.0.0.1", "10.0.0.0/8"]
    assert gateway_settings({"GATEWAY_PAGE_FILES_KEEP_HOURS": "2.5"})["PAGE_FILES_KEEP_HOURS"] == 2.5
    assert gateway_settings({"GATEWAY_PAGE_FILES_KEEP_HOURS": "none"})["PAGE_FILES_KEEP_HOURS"] is None
    assert gateway_settings({"GATEWAY_GC_FULL_WALK_SECONDS": "120"})["GC_FULL_WALK_SECONDS"] == 120.0
    assert gateway_settings({"GATEWAY_GC_FULL_WALK_SECONDS": "none"})["GC_FULL_WALK_SECONDS"] is None
    assert gateway_settings({"GATEWAY_LEGACY_MAX_BODY_MB": "500"})["LEGACY_MAX_BODY_MB"] == 500


def test_the_older_names_still_work(settings: Any) -> None:
    settings.GATEWAY = {}
    settings.GATEWAY_MIGRATED_ROUTES = "migration_plan.routes:ROUTES"
    assert gateway_settings({})["ROUTES"] == "migration_plan.routes:ROUTES"
    assert gateway_settings({"GATEWAY_GRADIO_PAGES": "gradio_ui:PAGES"})["PAGES"] == ["gradio_ui:PAGES"]
    assert [p.id for p in problems({})] == ["fastapi_gateway.W001"]


# Since Django 6.1 `manage.py check` runs the model checks against every database (SQLite is
# asked whether it supports JSONField).
_check_reads_the_database = pytest.mark.django_db


@_check_reads_the_database
@pytest.mark.parametrize(
    ("gateway", "env", "expected_id", "in_message"),
    [
        ({"LEGACY_THRADS": 2}, {}, "fastapi_gateway.E003", "LEGACY_THRADS"),
        ({"LEGACY_THREADS": 0}, {}, "fastapi_gateway.E004", "LEGACY_THREADS"),
        ({"LEGACY_OVERFLOW_MS": "fast"}, {}, "fastapi_gateway.E004", "LEGACY_OVERFLOW_MS"),
        ({"API_ROUTERS": {"api": "api_v2:router"}}, {}, "fastapi_gateway.E005", "'api'"),
        ({"API_ROUTERS": {"/api": "no_such_module:router"}}, {}, "fastapi_gateway.E006", "no_such_module"),
        ({"PAGES": "gradio_ui:PAGES"}, {}, "fastapi_gateway.E004", "PAGES"),
        ({"PAGES": ["no_such_pages:hello"]}, {}, "fastapi_gateway.E006", "no_such_pages"),
        ({"ROUTES": "no_such_plan:ROUTES"}, {}, "fastapi_gateway.E006", "no_such_plan"),
        ({"TRUSTED_PROXIES": "10.0.0.1"}, {}, "fastapi_gateway.E004", "TRUSTED_PROXIES"),
        ({"PAGE_TITLE": "My site"}, {}, "fastapi_gateway.E004", "{title}"),
        ({"PAGE_TITLE": "{title} {site}"}, {}, "fastapi_gateway.E004", "{title}"),
        ({"PAGE_TITLE": "{title} }"}, {}, "fastapi_gateway.E004", "{title}"),
        ({"PAGES": [5]}, {}, "fastapi_gateway.E004", "PAGES"),
        ({"PAGES": ["gradio_ui:NOPE"]}, {}, "fastapi_gateway.E006", "gradio_ui:NOPE"),
        ({"TRUSTED_PROXIES": ["not-an-ip"]}, {}, "fastapi_gateway.E004", "TRUSTED_PROXIES"),
        ({"LEGACY_OVERFLOW_MS": float("inf")}, {}, "fastapi_gateway.E004", "LEGACY_OVERFLOW_MS"),
        ({}, {"GATEWAY_STREAM_RECHECK_SECONDS": "inf"}, "fastapi_gateway.E004", "STREAM_RECHECK_SECONDS"),
        ({"PAGE_FILES_KEEP_HOURS": 0}, {}, "fastapi_gateway.E004", "PAGE_FILES_KEEP_HOURS"),
        ({"LEGACY_MAX_BODY_MB": 0}, {}, "fastapi_gateway.E004", "LEGACY_MAX_BODY_MB"),
        ({"LEGACY_SEND_TIMEOUT_SECONDS": -1}, {}, "fastapi_gateway.E004", "LEGACY_SEND_TIMEOUT_SECONDS"),
        ({"SEND_TIMEOUT_SECONDS": 0}, {}, "fastapi_gateway.E004", "SEND_TIMEOUT_SECONDS"),
        ({"REQUEST_HEAD_TIMEOUT_SECONDS": "soon"}, {}, "fastapi_gateway.E004", "REQUEST_HEAD_TIMEOUT_SECONDS"),
        ({}, {"GATEWAY_REQUEST_BODY_TIMEOUT_SECONDS": "0"}, "fastapi_gateway.E004", "REQUEST_BODY_TIMEOUT_SECONDS"),
        ({}, {"GATEWAY_LEGACY_MAX_BODY_MB": "1.5"}, "fastapi_gateway.E002", "GATEWAY_LEGACY_MAX_BODY_MB"),
        ({"PAGE_FILES_KEEP_HOURS": "a day"}, {}, "fastapi_gateway.E004", "PAGE_FILES_KEEP_HOURS"),
        ({"GC_FULL_WALK_SECONDS": 0}, {}, "fastapi_gateway.E004", "GC_FULL_WALK_SECONDS"),
        ({"GC_FULL_WALK_SECONDS": float("inf")}, {}, "fastapi_gateway.E004", "GC_FULL_WALK_SECONDS"),
        ({}, {"GATEWAY_PAGE_FILES_KEEP_HOURS": "a day"}, "fastapi_gateway.E002", "GATEWAY_PAGE_FILES_KEEP_HOURS"),
        ({"DOCS_PREFIX": "//evil.example"}, {}, "fastapi_gateway.E004", "DOCS_PREFIX"),
        ({"DOCS_PREFIX": "/"}, {}, "fastapi_gateway.E004", "DOCS_PREFIX"),
        ({}, {"GATEWAY_LIMIT_REQUEST_LINE": "8k"}, "fastapi_gateway.E002", "GATEWAY_LIMIT_REQUEST_LINE"),
        ({}, {"GATEWAY_CPU_AFFINITY": "maybe"}, "fastapi_gateway.E002", "GATEWAY_CPU_AFFINITY"),
    ],
)
def test_a_wrong_value_is_named_by_check_and_refused_by_create_app(
    settings: Any, monkeypatch: pytest.MonkeyPatch, gateway: dict[str, Any], env: dict[str, str], expected_id: str, in_message: str
) -> None:
    settings.GATEWAY = gateway
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    found = problems()
    assert [problem.id for problem in found] == [expected_id]
    assert in_message in found[0].msg
    with pytest.raises(SystemCheckError, match=expected_id):
        call_command("check")
    with pytest.raises(GatewayConfigurationError, match=expected_id):
        create_app()


def test_an_unknown_key_suggests_the_close_one(settings: Any) -> None:
    settings.GATEWAY = {"MAX_UPLOAD": 5}
    (problem,) = problems({})
    assert problem.hint == "Did you mean 'MAX_UPLOAD_MB'?"


@_check_reads_the_database
def test_the_example_passes_its_own_checks() -> None:
    assert problems({}) == []
    call_command("check")


@_check_reads_the_database
def test_the_project_s_sessions_and_auth_are_checked(settings: Any) -> None:
    settings.INSTALLED_APPS = [app for app in settings.INSTALLED_APPS if app != "django.contrib.sessions"]
    with pytest.raises(SystemCheckError, match="fastapi_gateway.E010"):
        call_command("check")


@pytest.mark.django_db(transaction=True)
def test_a_project_with_no_gateway_setting_gets_its_site_healthz_and_metrics_only(tmp_path: Path) -> None:
    """Nothing of the example is mounted unless the settings name it (a real process, as served)."""
    probe = (
        "import asyncio, httpx, fastapi_gateway.asgi as m\n"
        "async def main():\n"
        "    async with httpx.AsyncClient(transport=httpx.ASGITransport(m.app), base_url='http://localhost') as c:\n"
        "        for path in ('/healthz', '/metrics', '/api/v2/tickets', '/api/v2/docs', '/ui/tickets/', '/accounts/login/'):\n"
        "            r = await c.get(path)\n"
        "            print(path, r.status_code, r.headers.get('x-served-by', ''), r.headers.get('content-type', ''))\n"
        "asyncio.run(main())\n"
    )
    settings_module = tmp_path / "bare_settings.py"
    settings_module.write_text("from legacy_django.settings import *  # noqa\ndel GATEWAY\n")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "bare_settings", "PYTHONPATH": f"{tmp_path}:{ROOT}",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "GATEWAY_CPU_AFFINITY": "off"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answers = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}
    assert answers["/healthz"][0] == "200"
    assert answers["/metrics"][0] in ("200", "401", "403")
    assert "Traceback" not in done.stderr and "gradio" not in done.stderr.lower()
    for path in ("/api/v2/tickets", "/api/v2/docs", "/ui/tickets/"):
        status, *rest = answers[path]
        assert status == "404" and "text/html" in " ".join(rest), (path, answers[path])  # Django's own 404
    assert answers["/accounts/login/"][0] == "200"


def test_the_entrypoint_without_django_settings_module_says_what_to_do(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", "import fastapi_gateway.asgi"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "DJANGO_SETTINGS_MODULE is not set" in done.stderr


def test_pages_without_a_logout_view_to_post_to_are_reported(settings: Any) -> None:
    settings.GATEWAY = {**settings.GATEWAY, "PAGES": ["gradio_ui:PAGES"]}
    settings.ROOT_URLCONF = "tests.gateway.urls_without_logout"
    with pytest.raises(SystemCheckError, match="fastapi_gateway.W011"):
        call_command("check", "--fail-level", "WARNING")
    settings.GATEWAY = {**settings.GATEWAY, "LOGOUT_URL": "/admin/logout/"}
    call_command("check", "--fail-level", "WARNING")


@_check_reads_the_database
def test_the_deploy_check_asks_for_a_legacy_body_limit(settings: Any) -> None:
    """Legacy URLs keep Django's own limits by default, but the gateway stores a body whole
    before Django runs: ``check --deploy`` says so until a limit is set."""
    from fastapi_gateway.checks import check_deployment

    settings.GATEWAY = {key: value for key, value in settings.GATEWAY.items() if key != "LEGACY_MAX_BODY_MB"}
    assert [message.id for message in check_deployment()] == ["fastapi_gateway.W012"]
    with pytest.raises(SystemCheckError, match="fastapi_gateway.W012"):
        call_command("check", "--deploy", "--fail-level", "WARNING", "--tag", "security")
    call_command("check", "--fail-level", "WARNING")  # not without --deploy
    settings.GATEWAY = {**settings.GATEWAY, "LEGACY_MAX_BODY_MB": 50}
    assert check_deployment() == []
