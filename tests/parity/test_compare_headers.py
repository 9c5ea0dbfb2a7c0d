"""Headers on an allow-list: content type, Location, cookies by name and flags, nothing else by default."""

from __future__ import annotations

from fastapi_gateway.parity.compare import Reply, compare_replies
from fastapi_gateway.parity.compare_headers import compare_headers
from fastapi_gateway.parity.difference import MISSING, Difference
from fastapi_gateway.parity.rules import Rules

JSON = ("content-type", "application/json")


def test_server_date_length_and_csrf_cookie_are_left_out() -> None:
    legacy = Reply.of(200, [JSON, ("date", "Mon"), ("server", "gunicorn"), ("content-length", "2"), ("set-cookie", "csrftoken=a; Path=/")], b"{}")
    new = Reply.of(200, [JSON, ("date", "Tue"), ("server", "uvicorn"), ("x-served-by", "new")], b"{}")
    assert compare_replies(legacy, new, Rules(ignore_cookies=("csrftoken",))) == []


def test_cookies_compare_by_name_and_flags_never_by_value() -> None:
    legacy = Reply.of(200, [("set-cookie", "sessionid=abc; HttpOnly; Path=/; SameSite=Lax"), ("set-cookie", "seen=1; Path=/")])
    same_flags = Reply.of(200, [("set-cookie", "sessionid=zzz; Path=/; SameSite=Lax; HttpOnly"), ("set-cookie", "seen=2; Path=/")])
    assert compare_headers(legacy, same_flags) == []
    looser = Reply.of(200, [("set-cookie", "sessionid=zzz; Path=/; SameSite=None; Secure")])
    assert compare_headers(legacy, looser) == [
        Difference("cookie:seen", {"domain": "", "httponly": "no", "lifetime": "session", "path": "/", "samesite": "", "secure": "no"}, None, MISSING),
        Difference("cookie:sessionid@httponly", "yes", "no"),
        Difference("cookie:sessionid@samesite", "lax", "none"),
        Difference("cookie:sessionid@secure", "no", "yes"),
    ]


def test_a_redirect_back_to_the_request_reads_the_same_on_both_urls() -> None:
    legacy = Reply.of(302, [("location", "/accounts/login/?next=/tickets/%3Fstatus%3Dopen")], target="/tickets/?status=open")
    new = Reply.of(302, [("location", "/accounts/login/?next=/ui/tickets/%3Fstatus%3Dopen"), JSON], target="/ui/tickets/?status=open")
    assert compare_headers(legacy, new) == []
    elsewhere = Reply.of(302, [("location", "/accounts/login/?next=/")], target="/ui/tickets/?status=open")
    assert [d.path for d in compare_headers(legacy, elsewhere)] == ["header:location"]


def test_more_headers_are_compared_when_a_rule_names_them() -> None:
    legacy, new = Reply.of(200, [("cache-control", "no-store")]), Reply.of(200, [("cache-control", "max-age=60")])
    assert compare_headers(legacy, new) == []
    assert compare_headers(legacy, new, Rules(headers=("Cache-Control",))) == [Difference("header:cache-control", "no-store", "max-age=60")]
