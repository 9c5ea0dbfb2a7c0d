"""The gateway adopted by a project we did not write: Wagtail's, made by ``wagtail start``.

The project gets its own virtualenv with Wagtail and this checkout (``[gradio]``) installed by
pip; then everything the adoption changes is taken from docs/adopting.md, each file, settings
line and command as the guide shows it (``tests/adoption/guide.py``), with two values of this
project filled in: its login page (Wagtail's ``/admin/login/``; it has no ``/accounts/login/``)
and its settings module (``mysite.settings.dev``, what its ``manage.py`` uses). The project is
then served by gunicorn, as before the adoption, and by ``python -m fastapi_gateway``, and:

* its pages and its admin, signed out and signed in, answer the same through both;
* its own login page signs a user in to the FastAPI router and the Gradio page as well;
* a URL of its own, declared as a migrated route, moves to a FastAPI handler and back;
* its own logout view signs the user out of everything.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx
import pytest

from tests.adoption.comparison import CSRF_COOKIE, differences
from tests.adoption.guide import Guide
from tests.adoption.project import Project, start_wagtail_project
from tests.adoption.servers import Server, free_port, serving
from tests.adoption.third_party_venv import adoption_venv
from tests.gradio_protocol import fn_index_of, new_session_hash, run_event

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDE = Guide(ROOT / "docs" / "adopting.md")

LOGIN_URL = "/admin/login/"
LOGOUT_URL = "/admin/logout/"
USERNAME = "editor"
PASSWORD = "adoption-test-passphrase"
SITE_HOST = "mysite.test"  # the Host both servers are asked for when their answers are compared

PAGE = "/ui/hello"
ROUTE = "search"
ROUTE_URL = "/search/?query=welcome"


# -- adopting: the guide, step by step ------------------------------------------------------

def _adopt(project: Project) -> None:
    assert 'pip install "django-fastapi-shim[gradio]"' in GUIDE.commands  # step 1: the venv did it
    # Step 2. A settings package: the module every environment imports.
    settings = project.directory / "mysite" / "settings" / "base.py"
    block = GUIDE.file("mysite/settings.py")
    assert 'LOGIN_URL = "/accounts/login/"' in block
    settings.write_text(settings.read_text() + "\n" + block.replace('"/accounts/login/"', f'"{LOGIN_URL}"'))
    # Step 3.
    project.run(GUIDE.command("python manage.py migrate"))
    assert "no issues" in project.run(GUIDE.command("python manage.py check"))
    # Steps 5 to 7: each module, then its line of GATEWAY switched on.
    project.run(GUIDE.command("mkdir myapp"))
    project.run(GUIDE.command("touch myapp/__init__.py"))
    for module, key in (("myapp/api.py", "API_ROUTERS"), ("myapp/pages.py", "PAGES"), ("myapp/migration.py", "ROUTES")):
        (project.directory / module).write_text(GUIDE.file(module))
        line = GUIDE.switched_on(key)
        commented = line.replace('"', '# "', 1)
        text = settings.read_text()
        assert text.count(commented) == 1, f"step 2's settings should hold {commented!r} for step {module} to switch on"
        settings.write_text(text.replace(commented, line))
    # Wagtail names no URL "logout": the check says so (W011), and the guide's line fixes it.
    assert "fastapi_gateway.W011" in project.run(GUIDE.command("python manage.py check"))
    logout_line = GUIDE.switched_on("LOGOUT_URL").replace('"/accounts/logout/"', f'"{LOGOUT_URL}"')
    settings.write_text(settings.read_text().replace('GATEWAY = {\n', 'GATEWAY = {\n' + logout_line + "\n", 1))
    assert "no issues" in project.run(GUIDE.command("python manage.py check"))
    listing = project.run(GUIDE.command("python manage.py routes"))
    assert re.search(rf"^{ROUTE}\s+legacy\s", listing, re.MULTILINE), listing


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    venv = adoption_venv(tmp_path_factory.mktemp("checkout"))
    project = start_wagtail_project(venv, tmp_path_factory.mktemp("adoption"))
    _adopt(project)
    # The project runs the gateway it installed, not this checkout's files.
    where = project.run(["python", "-c", "import fastapi_gateway; print(fastapi_gateway.__file__)"])
    assert where.strip().startswith(str(venv)), where
    project.run(["python", "manage.py", "createsuperuser", "--noinput", "--username", USERNAME, "--email", "editor@example.com"],
                env={"DJANGO_SUPERUSER_PASSWORD": PASSWORD})
    return project


@dataclass(frozen=True)
class Sites:
    gunicorn: Server
    gateway: Server


@pytest.fixture(scope="module")
def sites(project: Project, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    gunicorn_port, gateway_port = free_port(), free_port()
    # Step 4, with this project's settings module (exported as the guide says) and free ports.
    assert "export DJANGO_SETTINGS_MODULE=mysite.settings" in GUIDE.commands
    assert project.env["DJANGO_SETTINGS_MODULE"] == project.settings_module
    gateway = GUIDE.command("python -m fastapi_gateway --host 127.0.0.1 --port 8000 --workers 1", **{"8000": str(gateway_port)})
    # How the project was served before: gunicorn, as the guide's fallback names it.
    assert "`gunicorn mysite.wsgi`" in GUIDE.text
    gunicorn = ["gunicorn", "mysite.wsgi", "--bind", f"127.0.0.1:{gunicorn_port}", "--no-control-socket"]
    commands = {"gunicorn": (gunicorn, gunicorn_port, LOGIN_URL), "gateway": (gateway, gateway_port, "/healthz")}
    with serving(project, commands, tmp_path_factory.mktemp("logs")) as servers:
        yield Sites(servers["gunicorn"], servers["gateway"])


# -- (a) the same site through both servers ------------------------------------------------

SIGNED_OUT_PATHS = [
    "/",  # the home page `wagtail start` creates
    ROUTE_URL,  # the search page (a declared route, still on legacy here)
    "/admin/",  # 302 to the login page
    "/admin/login/?next=/admin/",  # the login form: a new CSRF cookie, a masked token
    "/django-admin/login/",
    "/no-such-page/",  # 404: Django's debug page (the project runs with DEBUG on)
    "/static/wagtailadmin/css/core.css",  # served by Django's staticfiles view under DEBUG
]
# Not the page editor (/admin/pages/N/edit/): every GET of it opens an editing session, a new
# database row whose id the page shows, so two GETs differ through the same server too.
SIGNED_IN_PATHS = [
    "/",  # with Wagtail's user bar
    "/admin/",
    "/admin/pages/",
    "/admin/pages/{home}/",
    "/admin/users/",
    "/admin/images/",
    "/admin/documents/",
    "/admin/snippets/",  # 302 with a messages cookie
    "/admin/login/",  # 302 to the admin when signed in
    "/django-admin/",
    "/django-admin/auth/user/",
]


def _form_token(html: str) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match[1]


def _cookie_header(cookies: httpx.Cookies) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def _same_request(sites: Sites, method: str, path: str, cookie: str | None) -> list[str]:
    """The same request to gunicorn, then to the gateway: what the gateway's answer changes."""
    headers = {"Host": SITE_HOST, "Accept": "text/html"}
    if cookie:
        headers["Cookie"] = cookie
    answers = [httpx.request(method, server.url + path, headers=headers, timeout=30) for server in (sites.gunicorn, sites.gateway)]
    return differences(*answers)


def test_its_pages_and_admin_answer_the_same_through_the_gateway(sites: Sites) -> None:
    found = {}
    for path in SIGNED_OUT_PATHS:
        found[f"GET {path} (signed out)"] = _same_request(sites, "GET", path, None)
    found["HEAD / (signed out)"] = _same_request(sites, "HEAD", "/", None)

    # One session, signed in through gunicorn: both servers get the same cookies.
    with httpx.Client(base_url=sites.gunicorn.url, headers={"Host": SITE_HOST}) as browser:
        form = browser.get(LOGIN_URL)
        signed_in = browser.post(LOGIN_URL, data={"csrfmiddlewaretoken": _form_token(form.text), "username": USERNAME,
                                                  "password": PASSWORD}, headers={"Origin": f"http://{SITE_HOST}"})
        assert signed_in.status_code == 302, signed_in.text
        cookie = _cookie_header(browser.cookies)
        explorer = browser.get("/admin/pages/").text
    assert CSRF_COOKIE in cookie and "sessionid" in cookie
    home = min(int(page_id) for page_id in re.findall(r'href="/admin/pages/(\d+)/"', explorer) if page_id != "1")
    for path in SIGNED_IN_PATHS:
        path = path.format(home=home)
        found[f"GET {path} (signed in)"] = _same_request(sites, "GET", path, cookie)

    different = {request: changes for request, changes in found.items() if changes}
    assert not different, "\n\n".join(f"{request}:\n" + "\n".join(changes) for request, changes in different.items())


# -- (b) its login, everywhere ---------------------------------------------------------------

def _client(server: Server) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, timeout=30)


async def _sign_in(client: httpx.AsyncClient, next_url: str) -> httpx.Response:
    """Wagtail's own login form, as a browser fills it in: its CSRF token, and the page's Origin."""
    form = await client.get(LOGIN_URL, params={"next": next_url})
    assert form.status_code == 200
    return await client.post(
        LOGIN_URL,
        data={"csrfmiddlewaretoken": _form_token(form.text), "username": USERNAME, "password": PASSWORD, "next": next_url},
        headers={"Origin": str(client.base_url).rstrip("/")},
    )


async def test_its_own_login_signs_in_to_the_fastapi_router_and_the_gradio_page(sites: Sites) -> None:
    async with _client(sites.gateway) as client:
        signed_out_page = await client.get(f"{PAGE}/", headers={"Accept": "text/html"})
        assert signed_out_page.status_code == 302
        assert signed_out_page.headers["location"] == f"{LOGIN_URL}?next={PAGE}/"
        assert (await client.get("/api/new/me")).status_code == 401
        assert (await client.get("/api/new/hello")).json() == {"greeting": "Hello, stranger"}

        signed_in = await _sign_in(client, f"{PAGE}/")
        assert signed_in.status_code == 302, signed_in.text
        assert signed_in.headers["location"] == f"{PAGE}/"

        me = await client.get("/api/new/me")
        assert me.status_code == 200
        assert me.json() == {"username": USERNAME}
        assert (await client.get("/api/new/hello")).json() == {"greeting": f"Hello, {USERNAME}"}
        docs = await client.get("/api/new/docs")
        assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")

        page = await client.get(f"{PAGE}/", headers={"Accept": "text/html"})
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        config = (await client.get(f"{PAGE}/config")).json()
        completed = await run_event(client, PAGE, fn_index_of(config, "whoami"), [])
        assert completed["success"] is True, completed
        assert completed["output"]["data"] == [USERNAME]


# -- (c) one of its URLs moves to the new side and back ------------------------------------

async def _served_by(client: httpx.AsyncClient, side: str, within: float = 5.0) -> tuple[httpx.Response, float]:
    """The first answer of the route's URL served by ``side``, and how long that took."""
    started = time.monotonic()
    while True:
        answer = await client.get(ROUTE_URL)
        if answer.headers.get("x-served-by") == side or time.monotonic() - started > within:
            return answer, time.monotonic() - started
        await anyio.sleep(0.05)


async def test_a_declared_url_moves_to_its_fastapi_handler_and_rolls_back(project: Project, sites: Sites) -> None:
    async with _client(sites.gateway) as client:
        legacy = await client.get(ROUTE_URL)
        assert legacy.status_code == 200
        assert legacy.headers["x-served-by"] == "legacy"
        assert legacy.headers["content-type"].startswith("text/html")

        assert f"{ROUTE} is now new" in project.run(GUIDE.command(f"python manage.py routes set {ROUTE} new"))
        new, took = await _served_by(client, "new")
        assert new.headers.get("x-served-by") == "new", f"still {new.headers.get('x-served-by')} after {took:.1f} s"
        assert new.json() == {"query": "welcome", "results": []}
        for _ in range(5):  # and it stays there: every request, not one in a while
            assert (await client.get(ROUTE_URL)).headers["x-served-by"] == "new"
        assert re.search(rf"^{ROUTE}\s+new\s", project.run(GUIDE.command("python manage.py routes")), re.MULTILINE)

        assert f"{ROUTE} rolled back to legacy" in project.run(GUIDE.command(f"python manage.py routes rollback {ROUTE}"))
        back, took = await _served_by(client, "legacy")
        assert back.headers.get("x-served-by") == "legacy", f"still {back.headers.get('x-served-by')} after {took:.1f} s"
        assert back.headers["content-type"].startswith("text/html")
        assert back.text == legacy.text


# -- (d) its logout, everywhere --------------------------------------------------------------

async def test_its_own_logout_signs_out_of_everything(sites: Sites) -> None:
    async with _client(sites.gateway) as client:
        assert (await _sign_in(client, "/admin/")).status_code == 302
        assert (await client.get("/api/new/me")).status_code == 200
        session = dict(client.cookies)
        config = (await client.get(f"{PAGE}/config")).json()
        fn_index = fn_index_of(config, "whoami")

        # What the admin sidebar's "Log out" posts: the token Wagtail hands its scripts.
        admin = await client.get("/admin/")
        wagtail_config = re.search(r'<script id="wagtail-config" type="application/json">(.*?)</script>', admin.text, re.DOTALL)
        assert wagtail_config, "no wagtail-config on the admin page"
        token = json.loads(wagtail_config[1])["CSRF_TOKEN"]
        signed_out = await client.post(LOGOUT_URL, data={"csrfmiddlewaretoken": token},
                                       headers={"Origin": str(client.base_url).rstrip("/")})
        assert signed_out.status_code == 302, signed_out.text

        assert (await client.get("/api/new/me")).status_code == 401
        assert (await client.get("/api/new/hello")).json() == {"greeting": "Hello, stranger"}
        page = await client.get(f"{PAGE}/", headers={"Accept": "text/html"})
        assert page.status_code == 302
        assert page.headers["location"] == f"{LOGIN_URL}?next={PAGE}/"
        join = await client.post(
            f"{PAGE}/gradio_api/queue/join",
            json={"data": [], "fn_index": fn_index, "session_hash": new_session_hash(), "event_data": None, "trigger_id": None},
            headers={"Origin": str(client.base_url).rstrip("/")},
        )
        assert join.status_code == 401

    # The old cookie, kept by somebody, is worth nothing: the session itself is gone.
    async with _client(sites.gateway) as replay:
        replay.cookies.update(session)
        assert (await replay.get("/api/new/me")).status_code == 401
