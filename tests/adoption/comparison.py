"""Whether the gateway's answer is gunicorn's answer: status, headers, cookies and body.

Everything is compared except what differs between two answers of the *same* server, each
for a stated reason:

* Transport headers (``Date``, ``Server``, ``Connection``, ``Keep-Alive``,
  ``Transfer-Encoding``) belong to the HTTP server, not to the site: gunicorn names itself and
  closes every connection, uvicorn does neither, and the clock moves. ``X-Served-By`` is the
  gateway's own tag on the URLs of declared routes.
* ``Expires`` is the clock at the response plus the page's lifetime (Django's ``never_cache``
  sets it to "now"), so two answers a second apart differ: it is compared as present or
  absent, and the lifetime itself through ``Cache-Control``.
* A cookie's value is compared only when the request carried that cookie (the site re-issues
  it). A cookie set afresh is random (a new CSRF secret, a new session key) or signed with
  the time (the ``messages`` cookie), so two answers never agree on it; its name and
  attributes are compared. Its ``Expires`` is the response's clock plus ``Max-Age``, so only
  ``Max-Age`` is compared.
* Django masks the CSRF secret with a new random mask each time a token is rendered (its
  defence against BREACH), so the same page shows another token on every request. A
  64-character token is replaced by ``{csrf-token}`` only if it unmasks to the CSRF secret of
  this exchange (the cookie the request sent, or the one the answer sets): any other string
  stays compared.
* The tokens of an HTML ``class`` attribute are sorted: Wagtail builds some class lists from
  a Python set (``action.classes | {"bulk-action-btn"}`` in ``wagtailadmin_tags``), whose
  order follows each process's string-hash seed. Class order carries no meaning in HTML.

Both servers are asked with the same ``Host`` header, as a proxy in front of either would
send it, so absolute URLs the site builds from the request (Wagtail's user bar, Django's
debug pages) agree without rewriting.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable

import httpx
# Private, but it is the masking rule itself: a Django release that changes it fails this import.
from django.middleware.csrf import _unmask_cipher_token  # type: ignore[attr-defined]

__all__ = ["CSRF_COOKIE", "differences"]

CSRF_COOKIE = "csrftoken"  # Django's CSRF_COOKIE_NAME, which the project keeps
SERVER_HEADERS = frozenset({"date", "server", "connection", "keep-alive", "transfer-encoding"})
GATEWAY_HEADERS = frozenset({"x-served-by", "x-request-id"})
CLOCK_HEADERS = frozenset({"expires"})

_TOKEN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])")
_CLASS = re.compile(r'class="([^"]*)"')
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "image/svg")


def _cookie(set_cookie: str) -> tuple[str, str, dict[str, str]]:
    """Name, value and attributes (lower-cased names) of one ``Set-Cookie`` header."""
    pair, *attributes = [part.strip() for part in set_cookie.split(";")]
    name, _, value = pair.partition("=")
    parsed = {}
    for attribute in attributes:
        key, _, attribute_value = attribute.partition("=")
        parsed[key.lower()] = attribute_value
    return name, value, parsed


def _sent_cookies(response: httpx.Response) -> dict[str, str]:
    header = response.request.headers.get("cookie", "")
    return dict(part.strip().partition("=")[::2] for part in header.split(";") if "=" in part)


def _cookie_shapes(response: httpx.Response) -> list[tuple[str, str, tuple[tuple[str, str], ...]]]:
    sent = _sent_cookies(response)
    shapes = []
    for header in response.headers.get_list("set-cookie"):
        name, value, attributes = _cookie(header)
        attributes.pop("expires", None)
        shapes.append((name, value if name in sent else "{set afresh}", tuple(sorted(attributes.items()))))
    return sorted(shapes)


def _csrf_secrets(response: httpx.Response) -> set[str]:
    secrets = {_sent_cookies(response).get(CSRF_COOKIE, "")}
    for header in response.headers.get_list("set-cookie"):
        name, value, _ = _cookie(header)
        if name == CSRF_COOKIE:
            secrets.add(value)
    return secrets - {""}


def _body(response: httpx.Response) -> str | bytes:
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith(_TEXT_TYPES):
        return response.content
    text = response.content.decode(response.encoding or "utf-8", errors="replace")
    secrets = _csrf_secrets(response)
    text = _TOKEN.sub(lambda match: "{csrf-token}" if _unmask_cipher_token(match[0]) in secrets else match[0], text)
    if content_type.startswith("text/html"):
        text = _CLASS.sub(lambda match: 'class="' + " ".join(sorted(match[1].split())) + '"', text)
    return text


def _headers(response: httpx.Response) -> Counter[tuple[str, str]]:
    skipped = SERVER_HEADERS | GATEWAY_HEADERS | {"set-cookie"}
    return Counter(
        (name.lower(), "{a date}" if name.lower() in CLOCK_HEADERS else value)
        for name, value in response.headers.multi_items() if name.lower() not in skipped
    )


def _diff(reference: Iterable[str], gateway: Iterable[str], limit: int = 20) -> str:
    lines = list(difflib.unified_diff(list(reference), list(gateway), "gunicorn", "gateway", lineterm="", n=1))
    return "\n".join(line[:300] for line in lines[:limit])


def differences(reference: httpx.Response, gateway: httpx.Response) -> list[str]:
    """What the gateway's answer changes of gunicorn's to the same request (empty: nothing)."""
    found = []
    if reference.status_code != gateway.status_code:
        found.append(f"status {reference.status_code} -> {gateway.status_code}")
    reference_headers, gateway_headers = _headers(reference), _headers(gateway)
    if reference_headers != gateway_headers:
        found.append(
            f"headers: only gunicorn {sorted((reference_headers - gateway_headers).elements())}, "
            f"only the gateway {sorted((gateway_headers - reference_headers).elements())}"
        )
    if _cookie_shapes(reference) != _cookie_shapes(gateway):
        found.append(f"cookies: {_cookie_shapes(reference)} -> {_cookie_shapes(gateway)}")
    reference_body, gateway_body = _body(reference), _body(gateway)
    if reference_body != gateway_body:
        if isinstance(reference_body, str) and isinstance(gateway_body, str):
            found.append("body:\n" + _diff(reference_body.splitlines(), gateway_body.splitlines()))
        else:
            found.append(f"body: {len(reference.content)} bytes -> {len(gateway.content)} bytes, not the same")
    return found
