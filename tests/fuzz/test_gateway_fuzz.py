"""Generated malformed input against a running gateway: never a 5xx, never a traceback.

Every answer must be anonymous (401 / login redirect) or a clear 4xx; the server fixture
fails the module if the server's log holds a traceback afterwards. Counts per run are set
by ``FUZZ_EXAMPLES`` (CI: 150 per target, 9 targets; ``make fuzz``: 10,000 per target).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
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
