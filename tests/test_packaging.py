"""What ``pip install django-fastapi-shim`` puts in someone else's project: the gateway
package alone, with the gateway's own dependencies, the optional ones as extras."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (built,) = out.glob("django_fastapi_shim-*.whl")
    return zipfile.ZipFile(built)


def _metadata(wheel: zipfile.ZipFile) -> list[tuple[str, str]]:
    name = next(name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
    return Parser().parsestr(wheel.read(name).decode()).items()


def test_the_distribution_is_the_gateway_package_alone(wheel: zipfile.ZipFile) -> None:
    top_level = {name.split("/")[0] for name in wheel.namelist() if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"fastapi_gateway"}
    names = set(wheel.namelist())
    # What the Django app needs at run time besides modules: its migrations, the page template.
    assert "fastapi_gateway/migrations/0001_initial.py" in names
    assert "fastapi_gateway/management/page_template/page.py-tpl" in names


def test_only_the_gateway_s_dependencies_the_optional_ones_as_extras(wheel: zipfile.ZipFile) -> None:
    requires = [value for key, value in _metadata(wheel) if key == "Requires-Dist"]
    required = {value.split(";")[0].split(">")[0].split("<")[0].split("[")[0].strip().lower() for value in requires if "extra ==" not in value}
    assert {"django", "fastapi", "a2wsgi", "uvicorn"} <= required
    for example_only in ("dj-database-url", "whitenoise", "gunicorn", "itsdangerous", "gradio", "redis", "psycopg"):
        assert example_only not in required, example_only
    extras = {value.split("extra ==")[1].strip().strip("'\"") for value in requires if "extra ==" in value}
    assert {"gradio", "redis", "postgres"} <= extras
    python = next(value for key, value in _metadata(wheel) if key == "Requires-Python")
    assert python == "<3.14,>=3.11"
