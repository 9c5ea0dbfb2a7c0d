"""Generated malformed input against a running gateway: never a 5xx, never a traceback.

Every answer must be anonymous (401 / login redirect) or a clear 4xx; the server fixture
fails the module if the server's log holds a traceback afterwards. Counts per run are set
by ``FUZZ_EXAMPLES`` (CI: 150 per target, 14 targets; ``make fuzz``: 10,000 per target).
"""

from __future__ import annotations

import json
import re
import socket
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.e2e.conftest import GatewayServer

pytestmark = pytest.mark.fuzz

_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')

# What an HTTP client can put on the wire: visible ASCII and spaces in values, tokens in names.
_header_value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300).map(str.strip)
_header_name = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=40)
_cookie_value = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";,"), max_size=200)
_session_like = st.text(string.ascii_lowercase + string.digits, min_size=32, max_size=32)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5),
    max_leaves=20,
)

NEW_ROUTES = ["/api/v2/me", "/api/v2/tickets", "/api/v2/tickets/1", "/ui/tickets/config", "/ui/tickets/", "/ui/assistant/gradio_api/info"]
LEGACY_ROUTES = ["/tickets/", "/api/tickets/", "/accounts/login/", "/admin/"]


def _client(server: GatewayServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=30)


@pytest.fixture(scope="module")
def alice(fuzz_server: GatewayServer) -> Iterator[httpx.Client]:
    with _client(fuzz_server) as client:
        form = client.get("/accounts/login/")
        token = _CSRF.search(form.text)
        assert token
        client.post("/accounts/login/", data={"username": "alice", "password": "demo-password", "csrfmiddlewaretoken": token.group(1)})
        assert client.get("/api/v2/me").status_code == 200
        yield client


@pytest.fixture(scope="module")
def server_log(fuzz_server: GatewayServer) -> Path:
    return fuzz_server.log


@pytest.fixture(scope="module")
def anonymous(fuzz_server: GatewayServer) -> Iterator[httpx.Client]:
    with _client(fuzz_server) as client:
        yield client


def assert_clear(response: httpx.Response) -> None:
    assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:300]}"


@given(path=st.sampled_from(NEW_ROUTES + LEGACY_ROUTES), value=_cookie_value | _session_like)
def test_malformed_session_cookies_are_anonymous(anonymous: httpx.Client, path: str, value: str) -> None:
    response = anonymous.get(path, headers={"Cookie": f"sessionid={value}", "Accept": "application/json"})
    assert_clear(response)
    if path.startswith(("/api/v2", "/ui/")):
        assert response.status_code == 401
    if path in ("/tickets/", "/admin/"):
        assert response.status_code == 302


# Bytes an HTTP/1.1 client may send in a header value: no control characters.
_header_bytes = st.binary(max_size=300).map(lambda raw: bytes(b for b in raw if b >= 0x20 and b != 0x7F).strip())


@given(raw=_header_bytes)
def test_raw_cookie_headers(anonymous: httpx.Client, raw: bytes) -> None:
    assert_clear(anonymous.get("/api/v2/me", headers=[(b"Cookie", raw)]))
    assert_clear(anonymous.get("/tickets/", headers=[(b"Cookie", raw)]))


@given(path=st.sampled_from(NEW_ROUTES + LEGACY_ROUTES + ["/healthz"]), headers=st.dictionaries(_header_name, _header_value, max_size=6))
def test_arbitrary_headers(alice: httpx.Client, path: str, headers: dict[str, str]) -> None:
    headers = {name: value for name, value in headers.items() if name.lower() not in ("content-length", "transfer-encoding", "cookie")}
    assert_clear(alice.get(path, headers=headers))


@given(host=_header_value, forwarded=st.dictionaries(st.sampled_from(["X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-For", "Forwarded", "X-Forwarded_Proto"]), _header_value))
def test_hosts_and_forwarding_headers(alice: httpx.Client, host: str, forwarded: dict[str, str]) -> None:
    response = alice.get("/ui/tickets/config", headers={"Host": host or "x", **forwarded})
    assert_clear(response)
    if response.status_code == 200:
        assert "evil" not in response.text or "evil" in host


NEW_SIDE_PREFIXES = ("/api/v2", "/ui/", "/healthz", "/metrics")


@given(
    host=_header_value,
    path=st.sampled_from([*NEW_ROUTES, *LEGACY_ROUTES, "/healthz", "/metrics", "/no/such/page/", "/static/admin/css/base.css"]),
    method=st.sampled_from(["GET", "POST", "OPTIONS"]),
)
def test_hosts_on_every_route(alice: httpx.Client, host: str, path: str, method: str) -> None:
    """Issue 13: a refused Host is Django's own 400 page on its URLs, a JSON 400 on the new side's."""
    response = alice.request(method, path, headers={"Host": host or "x"})
    assert_clear(response)
    if response.status_code == 400:
        if path.startswith(NEW_SIDE_PREFIXES):
            assert response.json() == {"detail": "Invalid Host header"}, response.text[:300]
        else:
            assert response.headers["content-type"].startswith("text/html"), response.headers
            assert {"x-content-type-options", "referrer-policy", "cross-origin-opener-policy"} <= set(response.headers), response.headers


@given(path=st.sampled_from(["/api/v2/tickets", "/api/v2/tickets/1"]), method=st.sampled_from(["POST", "PATCH", "PUT", "DELETE"]), body=_json)
def test_api_v2_bodies(alice: httpx.Client, path: str, method: str, body: Any) -> None:
    headers = {"X-CSRFToken": alice.cookies["csrftoken"], "Origin": str(alice.base_url).rstrip("/")}
    assert_clear(alice.request(method, path, json=body, headers=headers))


@given(
    route=st.sampled_from(["queue/join", "cancel", "reset", "component_server", "run/predict", "call/x", "stream/abc", "stream/abc/close"]),
    body=_json,
    garbage=st.binary(max_size=200),
    use_garbage=st.booleans(),
)
def test_gradio_payloads(alice: httpx.Client, route: str, body: Any, garbage: bytes, use_garbage: bool) -> None:
    headers = {"Origin": str(alice.base_url).rstrip("/"), "Content-Type": "application/json"}
    content = garbage if use_garbage else httpx.Request("POST", "/", json=body).content
    assert_clear(alice.post(f"/ui/tickets/gradio_api/{route}", content=content, headers=headers))


@given(
    session_hash=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="/?#%"), min_size=1, max_size=80),
    file_path=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#%"), max_size=80),
)
def test_gradio_identifiers_in_urls(alice: httpx.Client, session_hash: str, file_path: str) -> None:
    assert_clear(alice.get("/ui/tickets/gradio_api/queue/data", params={"session_hash": session_hash}))
    assert_clear(alice.get(f"/ui/tickets/gradio_api/file={file_path}"))


@given(parts=st.lists(st.tuples(st.text(string.ascii_letters, min_size=1, max_size=12), st.binary(max_size=300)), max_size=4), boundary=st.text(string.ascii_letters + string.digits, min_size=1, max_size=30), mangle=st.binary(max_size=100))
def test_multipart_bodies(alice: httpx.Client, parts: list[tuple[str, bytes]], boundary: str, mangle: bytes) -> None:
    body = b"".join(
        b"--" + boundary.encode() + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"; filename="f.bin"\r\n\r\n' + data + b"\r\n"
        for name, data in parts
    ) + mangle + b"--" + boundary.encode() + b"--\r\n"
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": str(alice.base_url).rstrip("/")}
    assert_clear(alice.post("/ui/tickets/gradio_api/upload", content=body, headers=headers))
    legacy = alice.post("/tickets/new/", content=body, headers={**headers, "Referer": f"{alice.base_url}/tickets/new/"})
    assert_clear(legacy)
    assert legacy.status_code == 403, "no CSRF token in the body: Django refuses, whatever the body"


# Issue 13: every content type, charset and multipart shape on the new side gets a 4xx with
# a clear message, never a 5xx. Each example goes to every unsafe new route that reads a body.
BODY_ROUTES = [
    ("POST", "/api/v2/tickets"),
    ("PATCH", "/api/v2/tickets/1"),
    ("POST", "/ui/tickets/gradio_api/upload"),
    ("POST", "/ui/tickets/gradio_api/queue/join"),
    ("POST", "/ui/tickets/gradio_api/run/list_ticket_rows"),
    ("POST", "/ui/tickets/gradio_api/run/predict"),
]

# Bytes a client can put in a header value on the wire: no CR, LF or other controls.
_wire_bytes = st.binary(max_size=120).map(lambda raw: bytes(b for b in raw if b >= 0x20 and b != 0x7F))
_token = st.text(string.ascii_letters + string.digits + "-_.+", min_size=1, max_size=20).map(str.encode)
_charsets = st.sampled_from([b"utf-8", b"UTF-8", b"utf-16", b"utf-16-le", b"utf-32", b"latin-1", b"ascii", b"nope", b"", b'"', b"utf-8'", b"idna", b"rot13", b"base64"]) | _token
_parameter = st.one_of(
    st.builds(lambda charset: b"charset=" + charset, _charsets),
    st.builds(lambda charset: b'charset="' + charset + b'"', _charsets),
    st.builds(lambda charset, value: b"charset*=" + charset + b"''" + value, _charsets, _wire_bytes),
    st.builds(lambda name, value: name + b"=" + value, _token, _wire_bytes),
    st.builds(lambda name, charset, value: name + b"*=" + charset + b"'en'" + value, _token, _charsets, _wire_bytes),
    _wire_bytes,
)
_boundary_value = st.one_of(
    _token,
    st.text(string.ascii_letters + string.digits + "'()+_,-./:=? ", min_size=1, max_size=70).map(str.encode),
    st.integers(71, 3000).map(lambda size: b"b" * size),
    _wire_bytes,
)
# (the Content-Type boundary parameter, the boundary the body uses)
_boundaries = st.one_of(
    st.just((b"", b"x")),  # no boundary parameter at all
    st.just((b"; boundary=", b"")),
    st.just((b'; boundary=""', b"")),
    _boundary_value.map(lambda value: (b"; boundary=" + value, value)),
    _boundary_value.map(lambda value: (b'; boundary="' + value + b'"', value)),
    st.tuples(_boundary_value, _boundary_value).map(lambda pair: (b"; boundary=" + pair[0], pair[1])),  # body uses another
    st.tuples(_charsets, _wire_bytes).map(lambda pair: (b"; boundary*=" + pair[0] + b"''" + pair[1], pair[1])),
)
# Names Django, Gradio's upload and its component server look for, and anything else.
_field_name = st.sampled_from([b"files", b"file", b"data", b"title", b"csrfmiddlewaretoken", b"component_id", b"session_hash", b"fn_name", b""]) | _wire_bytes
_filename = st.sampled_from([b"f.bin", b"", b".", b"..", b"../../etc/passwd", b"/abs", b"a\\b", b" .", b"x" * 300, b"\xff\xfe.txt"]) | _wire_bytes
_disposition = st.one_of(
    st.builds(lambda name: b'Content-Disposition: form-data; name="' + name + b'"', _field_name),
    st.builds(lambda name, filename: b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"', _field_name, _filename),
    st.builds(lambda name, charset, filename: b'Content-Disposition: form-data; name="' + name + b"\"; filename*=" + charset + b"''" + filename, _field_name, _charsets, _filename),
    st.builds(lambda rest: b"Content-Disposition: " + rest, _wire_bytes),
)
_part_header = st.one_of(
    _disposition,
    st.builds(lambda value: b"Content-Type: " + value, _wire_bytes),
    st.builds(lambda value: b"Content-Transfer-Encoding: " + value, st.sampled_from([b"base64", b"quoted-printable", b"8bit", b"nope"])),
    _wire_bytes,  # no colon, or garbage
    st.integers(1, 20_000).map(lambda size: b"X-Big: " + b"h" * size),
)
_part = st.tuples(st.lists(_part_header, max_size=4), st.binary(max_size=200))


def _multipart_body(boundary: bytes, parts: list[tuple[list[bytes], bytes]], repeat: int, ending: bytes, preamble: bytes) -> bytes:
    encoded = b"".join(b"--" + boundary + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + data + b"\r\n" for headers, data in parts)
    return preamble + encoded * repeat + ending.replace(b"B", boundary)


_multipart_request = st.builds(
    lambda kind, boundaries, extra, parts, repeat, ending, preamble: (
        kind + boundaries[0] + b"".join(b"; " + parameter for parameter in extra),
        _multipart_body(boundaries[1], parts, repeat, ending, preamble),
    ),
    kind=st.sampled_from([b"multipart/form-data", b"MULTIPART/FORM-DATA", b"multipart/mixed", b"multipart/form-data;", b"multipart/", b"multipart/form-data ;"]),
    boundaries=_boundaries,
    extra=st.lists(_parameter, max_size=3),
    parts=st.lists(_part, max_size=5),
    repeat=st.sampled_from([1, 1, 1, 2, 1001, 2500]),  # past Django's and Gradio's 1000-field limits
    ending=st.sampled_from([b"--B--\r\n", b"--B--", b"--B", b"", b"--B\r\n", b"\r\n--B--\r\n", b"--B--\r\ntrailing garbage"]),
    preamble=st.sampled_from([b"", b"preamble\r\n", b"\r\n", b"\xff\xfe"]),
)


def assert_clear_refusal(response: httpx.Response) -> None:
    """No 5xx, and a refusal says why: a non-empty body (JSON ``detail`` on ``/api/v2``)."""
    assert_clear(response)
    if response.status_code >= 400:
        assert response.content, f"{response.request.method} {response.request.url}: {response.status_code} with an empty body"
        if response.request.url.path.startswith("/api/v2"):
            assert "detail" in response.json(), response.text[:300]


def _send_body(client: httpx.Client, content_type: bytes | None, body: bytes) -> None:
    headers: list[tuple[bytes, bytes]] = [(b"X-CSRFToken", client.cookies["csrftoken"].encode()), (b"Origin", str(client.base_url).rstrip("/").encode())]
    if content_type is not None:
        headers.append((b"Content-Type", content_type.strip(b" \t")))  # as a client sends it: trimmed
    for method, path in BODY_ROUTES:
        assert_clear_refusal(client.request(method, path, content=body, headers=headers))


@given(request=_multipart_request)
def test_multipart_shapes_on_new_routes(alice: httpx.Client, request: tuple[bytes, bytes]) -> None:
    _send_body(alice, *request)


_media_type = st.one_of(
    st.sampled_from([b"application/json", b"application/x-www-form-urlencoded", b"text/plain", b"multipart/form-data", b"application/octet-stream", b"application/vnd.api+json", b"*/*", b"", b";", b"/", b"application/", b"/json"]),
    st.builds(lambda major, minor: major + b"/" + minor, _token, _token),
    _wire_bytes,
)
_body = st.one_of(
    st.builds(lambda value, encoding: json.dumps(value, ensure_ascii=False).encode(encoding, "surrogatepass"), _json, st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "utf-8-sig"])),
    st.builds(lambda title: b'{"title": "' + title + b'"}', st.binary(max_size=40).filter(lambda raw: b'"' not in raw and b"\\" not in raw)),
    st.sampled_from([b"", b"title=x&body=%ff%fe", b"title=\xff", b"\xff\xfe\x00{", b"{", b"null", b"[]", b"a=1&" * 1500]),
    st.binary(max_size=300),
)


@given(media_type=_media_type, parameters=st.lists(_parameter, max_size=3), body=_body, omit=st.booleans())
def test_content_types_and_charsets_on_new_routes(alice: httpx.Client, media_type: bytes, parameters: list[bytes], body: bytes, omit: bool) -> None:
    content_type = None if omit else media_type + b"".join(b"; " + parameter for parameter in parameters)
    _send_body(alice, content_type, body)


def _origin(client: httpx.Client) -> bytes:
    return str(client.base_url).rstrip("/").encode()


def _raw_status(server_url: httpx.URL, request: bytes) -> int:
    """Send bytes no HTTP client library would (a raw non-ASCII request target); the status."""
    with socket.create_connection((server_url.host, server_url.port), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while b"\r\n" not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line = answer.split(b"\r\n", 1)[0].split()
    assert len(status_line) > 1 and status_line[1].isdigit(), f"no answer to {request[:200]!r}: {answer[:200]!r}"
    return int(status_line[1])


# Query strings as sent on the wire: printable ASCII, percent escapes of any byte (invalid
# UTF-8 included) and Gradio's own parameter names; raw bytes over 0x7F too, though uvicorn's
# httptools refuses those itself (400) before the app (the CSRF tests cover them directly).
_query_piece = st.one_of(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="#"), min_size=1, max_size=20).map(str.encode),
    st.binary(min_size=1, max_size=8).map(lambda raw: b"".join(b"%%%02x" % byte for byte in raw)),
    st.sampled_from([b"upload_id=", b"session_hash=", b"status=", b"&", b"=", b"%", b"%zz", b"%c3%28", b"%ed%a0%80"]),
    st.binary(min_size=1, max_size=4).map(lambda raw: bytes(b | 0x80 for b in raw)),
)


@given(query=st.lists(_query_piece, min_size=1, max_size=6).map(b"".join), route=st.sampled_from(BODY_ROUTES))
def test_query_strings_on_unsafe_new_routes(alice: httpx.Client, query: bytes, route: tuple[str, str]) -> None:
    method, path = route
    cookie = "; ".join(f"{name}={value}" for name, value in alice.cookies.items()).encode()
    body = b'{"title": "raw query"}'
    request = (
        method.encode() + b" " + path.encode() + b"?" + query + b" HTTP/1.1\r\nHost: " + alice.base_url.netloc + b"\r\nConnection: close\r\n"
        b"Cookie: " + cookie + b"\r\nX-CSRFToken: " + alice.cookies["csrftoken"].encode() + b"\r\nOrigin: " + _origin(alice) + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    status = _raw_status(alice.base_url, request)
    assert status < 500, f"{method} {path}?{query!r}: {status}"


# Well-formed uploads (the frontend's own shape), so that a cut lands where the server waits for more.
_upload_request = st.builds(
    lambda boundary, files: (
        b"multipart/form-data; boundary=" + boundary,
        b"".join(b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + name + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n" for name, data in files)
        + b"--" + boundary + b"--\r\n",
    ),
    boundary=st.text(string.ascii_letters + string.digits, min_size=8, max_size=40).map(str.encode),
    files=st.lists(st.tuples(st.text(string.ascii_letters + ".", min_size=1, max_size=20).map(str.encode), st.binary(max_size=2000)), min_size=1, max_size=3),
)


@given(request=_upload_request | _multipart_request, cut=st.floats(0, 1), route=st.sampled_from(BODY_ROUTES))
def test_bodies_cut_off_by_the_client(alice: httpx.Client, server_log: Path, request: tuple[bytes, bytes], cut: float, route: tuple[str, str]) -> None:
    """A client that declares a body, sends part of it and leaves: nobody is there for the
    answer, so what must not happen is an error escaping into the server's log."""
    content_type, body = request
    method, path = route
    sent = body[: int(len(body) * cut)]
    url = alice.base_url
    cookie = "; ".join(f"{name}={value}" for name, value in alice.cookies.items()).encode()
    head = (
        method.encode() + b" " + path.encode() + b" HTTP/1.1\r\nHost: " + url.netloc + b"\r\nCookie: " + cookie + b"\r\n"
        b"X-CSRFToken: " + alice.cookies["csrftoken"].encode() + b"\r\nOrigin: " + _origin(alice) + b"\r\n"
        b"Content-Type: " + content_type.strip(b" \t") + b"\r\nContent-Length: " + str(len(body) + 1).encode() + b"\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port), timeout=30) as connection:
        connection.sendall(head + sent)
    assert alice.get("/healthz").status_code == 200
    log = server_log.read_text()
    assert "Traceback" not in log, log[-3000:]


# The tickets page's events (all private, run through the queue), its browser-only ones,
# and names it does not have.
_EVENT_NAMES = st.sampled_from(["list_ticket_rows", "list_ticket_rows_1", "create_ticket_from_form", "load_tickets_page", "select_ticket", "signed_in_text", "js_fn", "predict"])


@given(
    route=st.sampled_from(["run", "api", "call", "call/v2"]),
    api_name=_EVENT_NAMES | st.text(string.ascii_letters + "_", min_size=1, max_size=20),
    fn_index=st.none() | st.integers(-3, 40) | st.integers(-3, 40).map(str) | st.integers(),
    data=st.lists(_json, max_size=5),
    extra=st.dictionaries(st.text(max_size=12), _json, max_size=3),
)
def test_gradio_event_calls(alice: httpx.Client, route: str, api_name: str, fn_index: int | str | None, data: list[Any], extra: dict[str, Any]) -> None:
    """Direct calls naming any event, by name or index, with any arguments; and the queue
    asked for an event the page does not have (issue 13)."""
    headers = {"Origin": str(alice.base_url).rstrip("/")}
    body: dict[str, Any] = {**extra, "data": data, "session_hash": "fuzzfuzzfuzz"}
    if fn_index is not None:
        body["fn_index"] = fn_index
    assert_clear_refusal(alice.post(f"/ui/tickets/gradio_api/{route}/{api_name}", json=body, headers=headers))
    missing = {"data": data, "fn_index": 1000 + abs(fn_index) if isinstance(fn_index, int) else -1, "session_hash": "fuzzfuzzfuzz"}
    assert_clear_refusal(alice.post("/ui/tickets/gradio_api/queue/join", json=missing, headers=headers))
