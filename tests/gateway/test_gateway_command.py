"""``manage.py gateway startpage NAME``: the page it writes builds, serves, sees the signed-in
user, and its own tests pass."""

from __future__ import annotations

import ast
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.gateway.conftest import login
from tests.gradio_protocol import fn_index_of, run_event

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def written(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    out = io.StringIO()
    call_command("gateway", "startpage", "hello_page", str(tmp_path), "--title", "Hello", stdout=out)
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path / "hello_page", out.getvalue()
    finally:
        sys.path.remove(str(tmp_path))
        for name in [module for module in sys.modules if module.startswith("hello_page")]:
            del sys.modules[name]


def test_it_writes_a_page_package_and_says_how_to_register_it(written: tuple[Path, str]) -> None:
    package, said = written
    assert sorted(path.name for path in package.iterdir()) == ["__init__.py", "page.py", "tests.py"]
    assert '"hello_page.page:PAGE"' in said and "GATEWAY" in said
    page = (package / "page.py").read_text()
    assert 'PAGE = GradioPage("/ui/hello_page", TITLE, "hello_page.page:build")' in page
    assert "{{" not in page and "{{" not in (package / "tests.py").read_text()


async def test_the_written_page_serves_the_signed_in_user(
    written: tuple[Path, str], gateway_factory: Any, demo_users: Any, demo_password: str
) -> None:
    async with gateway_factory(gradio_pages=["hello_page.page:PAGE"]) as ui:
        assert (await ui.get("/ui/hello_page/", headers={"Accept": "text/html"})).status_code == 302  # to sign in
        await login(ui, "alice", demo_password)
        assert (await ui.get("/ui/hello_page/", headers={"Accept": "text/html"})).status_code == 200
        config = (await ui.get("/ui/hello_page/config")).json()
        done = await run_event(ui, "/ui/hello_page", fn_index_of(config, "greet"), [])
    assert done["success"] is True and done["output"]["data"] == ["Hello, alice!"]


def test_the_written_tests_pass_under_manage_py_test(written: tuple[Path, str], tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "DJANGO_SETTINGS_MODULE": "legacy_django.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, str(ROOT / "manage.py"), "test", "hello_page", "-v", "2"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ran 3 tests" in done.stderr and "OK" in done.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["os"], "conflicts with the name of an existing Python module"), (["not-a-name"], "not a valid page name"),
     (["hello", "--path=ui/hello"], "--path must be a URL path")],
)
def test_bad_names_and_paths_are_refused_clearly(tmp_path: Path, arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("gateway", "startpage", arguments[0], str(tmp_path), *arguments[1:])


def test_a_refused_name_leaves_nothing_behind(tmp_path: Path) -> None:
    for name in ("../escaped", "os"):
        with pytest.raises(CommandError):
            call_command("gateway", "startpage", name, str(tmp_path / "into"), stdout=io.StringIO())
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "into").exists()


@pytest.mark.parametrize("title", ["Foo\\", "x\\N", 'Say "hi"', 'Triple """ quotes', "{{ page_name }} {% now 'Y' %}"])
def test_any_title_writes_valid_python_that_keeps_it(tmp_path: Path, title: str) -> None:
    call_command("gateway", "startpage", "titled", str(tmp_path), "--title", title, stdout=io.StringIO())
    for name in ("page.py", "tests.py", "__init__.py"):
        source = (tmp_path / "titled" / name).read_text()
        compile(source, name, "exec")  # no SyntaxError (nor an invalid escape warning under -W error)
    tree = ast.parse((tmp_path / "titled" / "page.py").read_text())
    (value,) = [node.value for node in tree.body if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "TITLE"]
    assert ast.literal_eval(value) == title


def test_a_path_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--path must be a URL path"):
        call_command("gateway", "startpage", "hello", str(tmp_path), "--path=/ui/nl\n")
