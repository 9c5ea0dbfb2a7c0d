"""``check_csrf`` and ``check_same_origin``: Django's CSRF rules on a scope, whatever its body.

The body belongs to the handler: a malformed content type, charset or query string must be
left for the handler to refuse (a 4xx), never raise inside the CSRF check (a 500).
"""

from __future__ import annotations

from typing import Any

import pytest

from fastapi_gateway.identity.csrf import check_csrf
from fastapi_gateway.exceptions import CsrfFailure
from fastapi_gateway.identity.origin_check import check_same_origin

SECRET = "a" * 32  # an unmasked CSRF secret: Django accepts it as cookie and as header token

MALFORMED = [
    pytest.param([(b"content-type", b"multipart/form-data")], b"", id="multipart-without-boundary"),
    pytest.param([(b"content-type", b"multipart/form-data; boundary=")], b"", id="multipart-empty-boundary"),
    pytest.param([(b"content-type", b'multipart/form-data; boundary=""')], b"", id="multipart-quoted-empty-boundary"),
    pytest.param([(b"content-type", b"multipart/form-data; boundary=\xc3\xa9")], b"", id="multipart-non-ascii-boundary"),
    pytest.param([(b"content-type", b"multipart/form-data; boundary=" + b"b" * 300)], b"", id="multipart-overlong-boundary"),
    pytest.param([(b"content-type", b"multipart/form-data; boundary=abc"), (b"content-length", b"9")], b"", id="multipart-body-shorter-than-declared"),
    pytest.param([(b"content-type", b"application/x-www-form-urlencoded; charset=utf-16")], b"", id="urlencoded-utf-16"),
    pytest.param([(b"content-type", b"application/x-www-form-urlencoded; charset=nope")], b"", id="urlencoded-unknown-charset"),
    pytest.param([(b"content-type", b"text/plain; charset*=nope''x")], b"", id="rfc2231-unknown-charset"),
    pytest.param([(b"content-type", b"a/b; x*=bogus'en'%41")], b"", id="rfc2231-unknown-charset-in-any-parameter"),
    pytest.param([], b"q=\xff\xfe", id="non-utf-8-query-string"),
]


def _scope(extra_headers: list[tuple[bytes, bytes]], query_string: bytes, *, token: str | None, origin: bytes | None = None) -> dict[str, Any]:
    headers = [(b"host", b"testserver"), (b"cookie", f"csrftoken={SECRET}".encode()), *extra_headers]
    if token is not None:
        headers.append((b"x-csrftoken", token.encode()))
    if origin is not None:
        headers.append((b"origin", origin))
    return {
        "type": "http", "method": "POST", "scheme": "http", "path": "/api/v2/tickets", "root_path": "",
        "query_string": query_string, "headers": headers, "server": ("testserver", 80), "client": ("127.0.0.1", 5000),
    }


@pytest.mark.parametrize(("headers", "query_string"), MALFORMED)
def test_a_malformed_body_description_is_left_to_the_handler(headers: list[tuple[bytes, bytes]], query_string: bytes) -> None:
    check_csrf(_scope(headers, query_string, token=SECRET))  # the right token passes, body or not
    with pytest.raises(CsrfFailure, match="CSRF token"):
        check_csrf(_scope(headers, query_string, token=None))
    with pytest.raises(CsrfFailure, match="CSRF token"):
        check_csrf(_scope(headers, query_string, token="b" * 32))


@pytest.mark.parametrize(("headers", "query_string"), MALFORMED)
def test_the_origin_check_ignores_the_body_description(headers: list[tuple[bytes, bytes]], query_string: bytes) -> None:
    check_same_origin(_scope(headers, query_string, token=None, origin=b"http://testserver"))
    with pytest.raises(CsrfFailure, match="Origin checking failed"):
        check_same_origin(_scope(headers, query_string, token=None, origin=b"http://evil.example"))
