"""Response headers compared on an allow-list: what a client acts on, not what a server adds.

Compared by default: the media type (not of bodiless redirects), ``Location`` and each cookie by name and flags
(``HttpOnly``, ``Secure``, ``SameSite``, ``Path``, ``Domain``, session/persistent/deleted) —
never by value, which is per-request. ``Date``, ``Server``, ``Content-Length``, ``Vary``
and the rest are left out unless a rule names them; Django's CSRF cookie is left out too.
A ``Location`` pointing back at the request itself (``/accounts/login/?next=<this URL>``)
reads as ``{request}``, so a page asked for at a new URL can agree with its legacy twin.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from fastapi_gateway.parity.difference import EXTRA, MISSING, Difference
from fastapi_gateway.parity.reply import Reply, media_type
from fastapi_gateway.parity.rules import Rules

__all__ = ["compare_headers", "cookie_flags", "normalised_location"]

_FLAG_NAMES = ("httponly", "secure", "samesite", "path", "domain")


def _bodiless(reply: Reply) -> bool:
    """A redirect or no-content answer: no client reads its body, so its content type says nothing."""
    return (300 <= reply.status < 400 or reply.status in (204, 304)) and not reply.body.strip()


def normalised_location(reply: Reply) -> str | None:
    location = reply.header("location")
    if location is None:
        return None
    parts = urlsplit(location)
    own = {reply.target, urlsplit(reply.target).path} - {""}

    def relative(value: str) -> str:
        return "{request}" if unquote(value) in own else value

    query = sorted((name, relative(value)) for name, value in parse_qsl(parts.query, keep_blank_values=True))
    return relative(parts.path) + ("?" + urlencode(query, safe="/{}") if query else "")


def _lifetime(morsel_expires: str, max_age: str) -> str:
    if max_age:
        try:
            return "deleted" if int(max_age) <= 0 else "persistent"
        except ValueError:
            return "persistent"
    if morsel_expires:
        try:
            return "deleted" if parsedate_to_datetime(morsel_expires).year < 2000 else "persistent"
        except (TypeError, ValueError):
            return "persistent"
    return "session"


def cookie_flags(set_cookie_headers: list[str]) -> dict[str, dict[str, str]]:
    """Each cookie's flags by name; its value is deliberately not kept."""
    cookies: dict[str, dict[str, str]] = {}
    for header in set_cookie_headers:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            cookies[header.split("=", 1)[0].strip()] = {"unparsed": "yes"}
            continue
        for name, morsel in jar.items():
            flags = {flag: str(morsel[flag]).lower() if flag == "samesite" else str(morsel[flag]) for flag in _FLAG_NAMES}
            flags["httponly"] = "yes" if morsel["httponly"] else "no"
            flags["secure"] = "yes" if morsel["secure"] else "no"
            flags["lifetime"] = _lifetime(str(morsel["expires"]), str(morsel["max-age"]))
            cookies[name] = flags
    return cookies


def compare_headers(legacy: Reply, new: Reply, rules: Rules | None = None) -> list[Difference]:
    rules = rules or Rules()
    differences: list[Difference] = []
    legacy_type, new_type = media_type(legacy.header("content-type") or ""), media_type(new.header("content-type") or "")
    if legacy_type != new_type and not (_bodiless(legacy) and _bodiless(new)):
        differences.append(Difference("header:content-type", legacy_type or None, new_type or None))
    legacy_location, new_location = normalised_location(legacy), normalised_location(new)
    if legacy_location != new_location:
        differences.append(Difference("header:location", legacy_location, new_location))
    for name in rules.headers:
        left, right = legacy.header(name), new.header(name)
        if left != right:
            kind = MISSING if right is None else EXTRA if left is None else "changed"
            differences.append(Difference(f"header:{name.lower()}", left, right, kind))
    if rules.page or not rules.compare_cookies:
        return differences
    ignored = set(rules.ignore_cookies)
    legacy_cookies = cookie_flags(legacy.header_list("set-cookie"))
    new_cookies = cookie_flags(new.header_list("set-cookie"))
    for name in sorted(set(legacy_cookies) | set(new_cookies)):
        if name in ignored:
            continue
        left_flags, right_flags = legacy_cookies.get(name), new_cookies.get(name)
        if left_flags is None or right_flags is None:
            differences.append(Difference(f"cookie:{name}", left_flags, right_flags, EXTRA if left_flags is None else MISSING))
            continue
        for flag in sorted(set(left_flags) | set(right_flags)):
            if left_flags.get(flag) != right_flags.get(flag):
                differences.append(Difference(f"cookie:{name}@{flag}", left_flags.get(flag), right_flags.get(flag)))
    return differences
