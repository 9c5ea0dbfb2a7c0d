"""Secrets are masked before anything is stored or shown, including a differing secret's values.

The rule is Django's (``SafeExceptionReporterFilter.hidden_settings`` and its
``cleansed_substitute``), plus the session and CSRF cookie names and the credential headers;
the names stay readable.
"""

from __future__ import annotations

import re
import time

import pytest
from django.views.debug import SafeExceptionReporterFilter
from pytest_django import Settings

from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.html_document import Element, html_lines, parse_html
from fastapi_gateway.parity.redaction import REDACTED, Redactor


class MoreCautiousFilter(SafeExceptionReporterFilter):
    """A project's own exception reporter filter: hides e-mail addresses too, says so differently."""

    cleansed_substitute = "<hidden>"
    hidden_settings = re.compile("API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|EMAIL", re.I)


def test_secret_looking_and_configured_fields_are_masked_at_any_depth() -> None:
    redactor = Redactor(["email", "$.owner.phone"])
    value = {"id": 1, "api_key": "k", "owner": {"email": "a@b", "phone": "123", "name": "Alice"},
             "items": [{"csrf_token": "t", "n": 1}], "Password": "p"}
    assert redactor.json(value) == {
        "id": 1, "api_key": REDACTED, "owner": {"email": REDACTED, "phone": REDACTED, "name": "Alice"},
        "items": [{"csrf_token": REDACTED, "n": 1}], "Password": REDACTED,
    }


def test_a_difference_at_a_secret_path_shows_no_value() -> None:
    redactor = Redactor(["email"])
    assert redactor.difference(Difference("$.token", "old-secret", "new-secret")) == Difference("$.token", REDACTED, REDACTED)
    assert redactor.difference(Difference("$[0].email", "a@x", None, "missing")) == Difference("$[0].email", REDACTED, None, "missing")
    nested = redactor.difference(Difference("$[0]", {"id": 1, "session_key": "s", "sessionid": "t"}, None, "missing"))
    assert nested.legacy == {"id": 1, "session_key": REDACTED, "sessionid": REDACTED}


@pytest.mark.parametrize(
    "name",
    ["api_key", "X-Api-Key", "Token", "access_token", "client_secret", "passwd", "PassWord", "pass%77ord", "pass%2577ord",
     "user[password]", "sessionid", "session_id", "csrftoken", "csrfmiddlewaretoken", "X-CSRFToken", "Authorization",
     "Proxy-Authorization", "Cookie", "Set-Cookie", "HTTP_COOKIE", "signature", "refresh+token"],
)
def test_names_are_read_with_djangos_rule_as_a_server_reads_them(name: str) -> None:
    redactor = Redactor()
    assert redactor.secret_name(name)
    assert redactor.url(f"/x?{name}=s3cr3t&page=2") == f"/x?{name}={REDACTED}&page=2"


@pytest.mark.parametrize("name", ["status", "page", "next", "q", "title", "session"])
def test_other_names_keep_their_values(name: str) -> None:
    assert Redactor().url(f"/x?{name}=open") == f"/x?{name}=open"


def test_the_projects_own_filter_and_cookie_names_are_the_rule(settings: Settings) -> None:
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = f"{__name__}.MoreCautiousFilter"
    settings.SESSION_COOKIE_NAME = "shop_sid"
    redactor = Redactor()
    assert redactor.url("/x?email=a@b.example&shop_sid=abc&token=t&page=1") == "/x?email=<hidden>&shop_sid=<hidden>&token=<hidden>&page=1"
    assert redactor.header("cookie", "shop_sid=abc; theme=dark") == "shop_sid=<hidden>; theme=<hidden>"


def test_urls_lose_every_secret_value_and_keep_every_name() -> None:
    redactor = Redactor()
    assert redactor.url("/api/tickets/19/?access_token=a1&password=p1&status=open&access_token=a2") == (
        f"/api/tickets/19/?access_token={REDACTED}&password={REDACTED}&status=open&access_token={REDACTED}"
    )
    # A URL inside a parameter, percent-encoded (Django's login redirect), or not.
    assert redactor.url("/accounts/login/?next=/tickets/%3Fapi_key%3Dk1%26page%3D2") == (
        f"/accounts/login/?next=/tickets/%3Fapi_key%3D{REDACTED}%26page%3D2"
    )
    assert redactor.url("/accounts/login/?next=/tickets/?api_key=k1") == f"/accounts/login/?next=/tickets/?api_key={REDACTED}"
    # Userinfo, with and without a password, also inside a parameter; a fragment's parameters.
    assert redactor.url("https://deploy:hunter2@example.com/x") == f"https://deploy:{REDACTED}@example.com/x"
    assert redactor.url("https://ghp_abc@github.com/x.git") == f"https://{REDACTED}@github.com/x.git"
    assert "hunter2" not in redactor.url("/go?to=https%3A%2F%2Fdeploy%3Ahunter2%40example.com%2F")
    assert redactor.url("/cb#access_token=t1&state=ok") == f"/cb#access_token={REDACTED}&state=ok"
    # Shown again, a redacted URL stays as it is.
    once = redactor.url("/x?next=/y%3Ftoken%3Dt1&password=p1")
    assert redactor.url(once) == once


def test_headers_keep_their_names_and_lose_their_credentials() -> None:
    shown = Redactor().headers([
        ("set-cookie", "sessionid=abc123; HttpOnly; Path=/"), ("cookie", "sessionid=abc123; theme=dark"),
        ("location", "/reset/?token=t0k3n&next=/x"), ("content-type", "text/html"), ("authorization", "Bearer eyJ.abc"),
        ("proxy-authorization", "Basic dXNlcjpwdw=="), ("x-api-key", "k1"), ("x-csrftoken", "c1"),
        ("referer", "http://testserver/tickets/?password=p1"),
    ])
    assert shown == [
        ("set-cookie", f"sessionid={REDACTED}; HttpOnly; Path=/"), ("cookie", f"sessionid={REDACTED}; theme={REDACTED}"),
        ("location", f"/reset/?token={REDACTED}&next=/x"), ("content-type", "text/html"), ("authorization", f"Bearer {REDACTED}"),
        ("proxy-authorization", f"Basic {REDACTED}"), ("x-api-key", REDACTED), ("x-csrftoken", REDACTED),
        ("referer", f"http://testserver/tickets/?password={REDACTED}"),
    ]
    assert Redactor().difference(Difference("header:location", "/login/?next=/x%3Ftoken%3Dt1", None, "missing")) == (
        Difference("header:location", f"/login/?next=/x%3Ftoken%3D{REDACTED}", None, "missing")
    )


def test_json_strings_holding_urls_are_cleaned() -> None:
    value = {"links": {"self": "http://testserver/api/tickets/1/?access_token=a1&page=2"}, "author": "alice", "title": "Keyboard: broken"}
    assert Redactor().json(value) == {
        "links": {"self": f"http://testserver/api/tickets/1/?access_token={REDACTED}&page=2"},
        "author": REDACTED,  # AUTH, as Django reads it
        "title": "Keyboard: broken",
    }


def test_html_inputs_links_and_free_text_lose_their_secrets() -> None:
    redactor = Redactor()
    assert redactor.html_attrs(Element("input", {"type": "password", "name": "pw", "value": "hunter2"}), "/x")["value"] == REDACTED
    assert redactor.html_attrs(Element("input", {"name": "api_token", "value": "abc"}), "/x")["value"] == REDACTED
    assert redactor.html_attrs(Element("input", {"name": "title", "value": "Printer", "autocomplete": "off"}), "/x") == {
        "name": "title", "value": "Printer", "autocomplete": "off"
    }
    assert redactor.html_attrs(Element("a", {"href": "/x?token=t1&page=2", "data-api-key": "k1"}), "/x") == {
        "href": f"/x?token={REDACTED}&page=2", "data-api-key": REDACTED
    }
    assert redactor.text("user=alice&session_id=abc123; token: xyz") == f"user=alice&session_id={REDACTED}; token: {REDACTED}"
    page = parse_html(
        '<form action="/login/?next=/x%3Fpassword%3Dp1"><textarea name="client_secret">s1</textarea>'
        '<p>Your link: /reset/?token=t2</p></form>'
    )
    shown = "\n".join(line for _, line in html_lines(page, attrs_filter=redactor.html_attrs, text_filter=redactor.html_text))
    assert "p1" not in shown and "s1" not in shown and "t2" not in shown
    assert "next=/x%3Fpassword%3D" in shown and 'name="client_secret"' in shown and "/reset/?token=" in shown


def test_html_differences_are_judged_by_their_element() -> None:
    redactor = Redactor()
    legacy = parse_html('<form><input name="api_key" value="k1"><input name="title" value="Printer"></form>')
    new = parse_html('<form><input name="api_key" value="k2"><input name="title" value="Scanner"></form>')
    documents = (legacy, new)
    secret = redactor.difference(Difference("/form/input/@value", "k1", "k2"), documents)
    plain = redactor.difference(Difference("/form/input[2]/@value", "Printer", "Scanner"), documents)
    assert (secret.legacy, secret.new) == (REDACTED, REDACTED) and (plain.legacy, plain.new) == ("Printer", "Scanner")
    link = redactor.difference(Difference("/a/@href", "/x?token=t1", "/y?token=t2"))
    assert (link.legacy, link.new) == (f"/x?token={REDACTED}", f"/y?token={REDACTED}")
    element = redactor.difference(Difference("/form/input[3]", None, '<input name="password" value="p1">', "extra"))
    assert element.new == f'<input name="password" value="{REDACTED}">'


def test_a_secret_value_is_masked_whole_as_the_server_reads_it() -> None:
    """From an attack pass: the mask stopped at the first ``;`` or ``'`` of a value Django reads
    whole, and JSON in a query value (plain or percent-encoded) was never read at all."""
    redactor = Redactor()
    url = ("/api/tickets/?limit=2&password=Tr0ub4dor;3xtra&access_token=ab'cd-SECRETTAIL"
           "&filter=%7B%22api_key%22%3A%22sk_live_SECRETJSON%22%7D&raw={\"api_key\":\"sk_live_RAW\",\"page\":2}")
    shown = redactor.url(url)
    for secret in ("Tr0ub4dor", "3xtra", "SECRETTAIL", "SECRETJSON", "sk_live_RAW"):
        assert secret not in shown, shown
    assert shown.startswith(f"/api/tickets/?limit=2&password={REDACTED}&access_token={REDACTED}&filter=")
    assert '"page":2' in shown, "a JSON field that is not secret keeps its value"
    # Free text and cookie lines keep their "; " separators.
    assert redactor.text("session_id=abc123; token: xyz") == f"session_id={REDACTED}; token: {REDACTED}"


def test_a_long_run_of_pairs_hides_no_secret_at_its_end() -> None:
    """From a review: with ";" read as part of a value, ``a=1;b=2;...;password=x`` became the
    value of ``a``, and the nesting limit left the secret in clear. Connection strings in error
    messages are such runs."""
    redactor = Redactor()
    assert redactor.url("/x?a=1;b=2;c=3;d=4;e=5;password=hunter2") == f"/x?a=1;b=2;c=3;d=4;e=5;password={REDACTED}"
    text = "connect failed: Server=db;Port=5432;Database=app;User Id=svc;SslMode=require;Password=hunter2"
    assert "hunter2" not in redactor.text(text) and "Database=app" in redactor.text(text)


def test_a_secret_json_value_is_masked_whole_and_cheaply() -> None:
    redactor = Redactor()
    assert redactor.text('{"token": {"inner": "SECRETX", "k": 1}, "n": 2}') == f'{{"token": "{REDACTED}", "n": 2}}'
    assert redactor.text('{"password":["s1", "s2"]}') == f'{{"password":"{REDACTED}"}}'
    assert "abc" not in redactor.text('{"password":\n"abc"}')
    started = time.perf_counter()
    redactor.text('\\"' * 500_000 + ":")  # a quote at every other character: each a possible name
    assert time.perf_counter() - started < 2
