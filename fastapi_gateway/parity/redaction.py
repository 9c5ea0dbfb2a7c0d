"""Secrets out of everything stored or shown: shadow rows, the admin, reports, test failures, logs.

One rule says what is secret, and it is Django's: a name is secret when the project's
exception reporter filter (``DEFAULT_EXCEPTION_REPORTER_FILTER``, by default
``SafeExceptionReporterFilter``) would hide a setting of that name (``hidden_settings``: API,
AUTH, TOKEN, KEY, SECRET, PASS, SIGNATURE, HTTP_COOKIE), when it is Django's session or CSRF
cookie or CSRF header (``SESSION_COOKIE_NAME``, ``CSRF_COOKIE_NAME``, ``CSRF_HEADER_NAME``), a
header that always carries credentials (``ALWAYS_SECRET_HEADERS``), or a name or selector the
project adds (``GATEWAY["PARITY_REDACT"]``). A name is read as a server reads it: percent-decoded
(``pass%77ord``), in any case, ``_`` and ``-`` alike. Its value becomes the filter's
``cleansed_substitute``; the name stays, so a diff still reads.

Values are masked wherever they sit: parameters of any URL (a path with its query, a
fragment, ``Location``, ``Referer``, links and form actions in HTML, URLs in JSON strings),
also percent-encoded inside another parameter (``next=/x%3Ftoken%3D…``); URL userinfo; every
cookie value (names and flags are kept); credentials in headers (``Bearer <masked>``); JSON
fields, HTML inputs, textareas and ``meta`` tags with secret names; ``name=value`` pairs
anywhere (the value as a server reads it: up to the next ``&``), ``"name": value`` pairs of JSON
inside any text (a query value, percent-encoded or not) and, in free text shown in a report (an
error message), ``name: value`` pairs too.
Redaction runs after comparing (a token that differs is still noticed) and before anything
leaves the process; ``routing/log_redaction.py`` applies the same rule to log records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.views.debug import SafeExceptionReporterFilter, get_default_exception_reporter_filter

from fastapi_gateway.conf import setting
from fastapi_gateway.parity.compare import is_html, text_of
from fastapi_gateway.parity.compare_json import child_path, item_path
from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.html_document import Element, element_at, parse_html
from fastapi_gateway.parity.reply import Reply
from fastapi_gateway.parity.selectors import selector_matches

__all__ = ["ALWAYS_SECRET_HEADERS", "REDACTED", "RULE_SETTINGS", "Redactor"]

REDACTED = SafeExceptionReporterFilter.cleansed_substitute
ALWAYS_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-csrftoken"})
RULE_SETTINGS = frozenset(
    {"DEFAULT_EXCEPTION_REPORTER_FILTER", "SESSION_COOKIE_NAME", "CSRF_COOKIE_NAME", "CSRF_HEADER_NAME", "GATEWAY", "GATEWAY_PARITY_REDACT"}
)
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})

_NAME = r"\w.%\-\[\]+~"
_VALUE = r"""(?P<value>"[^"]*"|'[^']*'|(?:(?i:bearer|basic|digest|token|negotiate)[ \t]+)?[^\s&;"'<>]*)"""
# A secret's unquoted value is masked as a server reads it: on to the next "&" (";" and "'" are
# part of it), whitespace, a double quote, a tag's end, or a "; " (a separator in free text and
# cookie lines; a URL holds no whitespace).
_SECRET_REST = re.compile(r"""(?:[^\s&;"<>]|;(?!\s))*""")
_PAIR = re.compile(rf"(?<![{_NAME}])(?P<name>[{_NAME}]+)(?P<sep>[\"']?[ \t]*(?P<op>=)[ \t]*){_VALUE}")
_LABELLED_PAIR = re.compile(rf"(?<![{_NAME}])(?P<name>[{_NAME}]+)(?P<sep>[\"']?[ \t]*(?P<op>[=:])[ \t]*){_VALUE}")
# "name": as JSON writes a field's name, wherever it sits (a query value, a form field, a log
# line); its value is read as JSON. Names are short and plain, so a scan at every quote is cheap.
_JSON_NAME = re.compile(r'"(?P<name>[\w.\-\[\]%+~ ]{1,64})"\s*:\s*')
_JSON_REST = re.compile(r"[^\s,}\]&]*")  # a value that is not whole JSON: up to where JSON would go on
_JSON_DECODER = json.JSONDecoder()
_HEADER_LINE = re.compile(
    r"""(?i)(?<![\w-])(?P<name>proxy-authorization|authorization|set-cookie|cookie)(?P<sep>["']?[ \t]*:[ \t]*["']?)(?P<value>[^\r\n"']+)"""
)
_USERINFO = re.compile(r"(?P<start>(?:\b[a-zA-Z][\w+.\-]*:)?//)(?P<user>[^\s/?#@:\"'<>]*)(?::(?P<password>[^\s/?#@\"'<>]*))?@")
_SEPARATORS = re.compile(r"[\W_]+")
_LAST_KEY = re.compile(r"""(?:\.([^.\[]+)|\["((?:[^"\\]|\\.)*)"\]|/@([^/]+))$""")
_OPEN_TAG = re.compile(r"<(?P<tag>[\w:-]+)(?P<attrs>[^<>]*)(?P<end>>?)")
_ATTRIBUTE = re.compile(r'(?P<name>[^\s="]+)(?:="(?P<value>[^"]*)"?)?')
_MAX_DEPTH = 4
_MAX_REMEMBERED = 4096


def _squashed(name: str) -> str:
    return _SEPARATORS.sub("", name.lower())


def _decoded(name: str) -> str:
    """A parameter name as a server reads it (repeatedly, so ``pass%2577ord`` is no way round)."""
    for _ in range(_MAX_DEPTH):
        decoded = unquote_plus(name)
        if decoded == name:
            break
        name = decoded
    return name.strip()


class Redactor:
    """The rule and its use on every shape a request or an answer takes in a report.

    Built from the settings it reads when created: make one per run or per stored row.

    ``fields``: extra names (matched at any depth, any case) or selectors (``$.owner.phone``).
    """

    def __init__(self, fields: Iterable[str] = ()) -> None:
        fields = list(fields)
        reporter = get_default_exception_reporter_filter()
        self.hidden_search = reporter.hidden_settings.search
        self.substitute: str = reporter.cleansed_substitute
        csrf_header = settings.CSRF_HEADER_NAME.removeprefix("HTTP_")
        always = {*ALWAYS_SECRET_HEADERS, settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME, csrf_header}
        extra = {field for field in fields if not field.startswith(("$", "/"))}
        self.names = frozenset(_squashed(name) for name in always | extra)
        self.selectors = tuple(field for field in fields if field.startswith(("$", "/")))
        self._verdicts: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, extra: Iterable[str] = ()) -> Redactor:
        """The rule plus the project's ``GATEWAY["PARITY_REDACT"]`` names and selectors, plus ``extra``."""
        return cls([*setting("PARITY_REDACT"), *extra])

    # The rule ------------------------------------------------------------------------------

    def secret_name(self, name: str) -> bool:
        verdict = self._verdicts.get(name)
        if verdict is None:
            decoded = _decoded(name)
            verdict = bool(decoded) and (bool(self.hidden_search(decoded)) or _squashed(decoded) in self.names)
            if len(self._verdicts) >= _MAX_REMEMBERED:
                self._verdicts.clear()
            self._verdicts[name] = verdict
        return verdict

    def secret_path(self, path: str) -> bool:
        matched = _LAST_KEY.search(path)
        if matched is not None and self.secret_name(next(group for group in matched.groups() if group is not None)):
            return True
        return bool(self.selectors) and selector_matches(self.selectors, path)

    # Text and URLs -------------------------------------------------------------------------

    def url(self, value: str) -> str:
        """A URL, a path with its query, a form body, a log line, or any string that may hold
        them: ``name=value`` pairs, userinfo, credential header lines."""
        return self._pairs(value, labels=False, depth=0)

    def text(self, value: str) -> str:
        """Free text shown in a report (an error message, a text body): ``name: value`` too.

        Not for log lines: with AUTH and API in the rule, ``api-tickets: shadow`` would lose
        its value.
        """
        return self._pairs(value, labels=True, depth=0)

    def _pairs(self, value: str, *, labels: bool, depth: int) -> str:
        if "@" in value:
            value = _USERINFO.sub(self._userinfo, value)
        if ":" in value and ("authorization" in (lowered := value.lower()) or "cookie" in lowered):
            value = _HEADER_LINE.sub(lambda match: f"{match['name']}{match['sep']}{self.substitute}", value)
        if '"' in value and ":" in value:
            value = self._json_pairs(value)
        if "=" not in value and not labels:
            return value
        out: list[str] = []
        position = 0
        for match in (_LABELLED_PAIR if labels else _PAIR).finditer(value):
            if match.start() < position:
                continue  # inside a secret value masked whole
            name, sep, shown = match["name"], match["sep"], match["value"]
            out.append(value[position:match.start()])
            position = match.end()
            if not self.secret_name(name):
                out.append(f"{name}{sep}{self._nested(shown, depth)}")
                continue
            quote_mark = shown[0] if shown[:1] in ("'", '"') else ""
            out.append(f"{name}{sep}{quote_mark}{self.substitute}{quote_mark}")
            rest = _SECRET_REST.match(value, match.start("value")) if not quote_mark else None
            if rest is not None:  # it always matches (maybe empty)
                position = max(position, rest.end())
        out.append(value[position:])
        return "".join(out)

    def _json_pairs(self, value: str) -> str:
        """Each ``"name": value`` with a secret name, its whole JSON value masked (a string, an
        object, a list); a value that is not whole JSON up to where it would go on."""
        out: list[str] = []
        position = 0
        for match in _JSON_NAME.finditer(value):
            if match.start() < position or not self.secret_name(match["name"]):
                continue
            start = match.end()
            try:
                end = _JSON_DECODER.raw_decode(value, start)[1]
            except ValueError:
                rest = _JSON_REST.match(value, start)
                end = rest.end() if rest is not None else start  # it always matches (maybe empty)
            out.append(value[position:start])
            out.append(f'"{self.substitute}"')
            position = end
        out.append(value[position:])
        return "".join(out)

    def _userinfo(self, match: re.Match[str]) -> str:
        if match["password"] is not None:
            return f"{match['start']}{match['user']}:{self.substitute}@"
        return f"{match['start']}{self.substitute}@"

    def _nested(self, value: str, depth: int) -> str:
        """A value that is itself a URL or holds one, maybe percent-encoded (``next=``)."""
        if depth >= _MAX_DEPTH or not ("=" in value or "%" in value or "@" in value):
            return value
        decoded = unquote(value)
        redacted = self._pairs(decoded, labels=False, depth=depth + 1)
        if redacted == decoded:
            return value
        return redacted if decoded == value else quote(redacted, safe="/:@*!$'()+,~")

    def stored_text(self, text: str) -> str:
        """A body kept as text (pretty JSON, normalised HTML lines, plain text) redacted again:
        what was stored before a rule existed is shown with today's rule."""
        try:
            value = json.loads(text)
        except ValueError:
            return "\n".join(self.markup(line) for line in text.split("\n"))
        return json.dumps(self.json(value), indent=1, sort_keys=True, ensure_ascii=False)

    # Headers -------------------------------------------------------------------------------

    def header(self, name: str, value: str) -> str:
        """One header's value fit to show: cookie values and credentials masked, URLs cleaned."""
        name = name.lower()
        if name == "cookie":
            return "; ".join(self._cookie(piece.strip()) for piece in value.split(";") if piece.strip())
        if name == "set-cookie":
            cookie, _, flags = value.partition(";")
            return self._cookie(cookie.strip()) + (f";{flags}" if flags else "")
        if name in _CREDENTIAL_HEADERS:
            scheme, space, credentials = value.strip().partition(" ")
            return f"{scheme} {self.substitute}" if space and credentials else self.substitute
        if self.secret_name(name):
            return self.substitute
        return self.url(value)

    def _cookie(self, cookie: str) -> str:
        name, equals, _ = cookie.partition("=")
        return f"{name.strip()}={self.substitute}" if equals else self.substitute

    def headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, self.header(name, value)) for name, value in headers]

    # JSON ----------------------------------------------------------------------------------

    def json(self, value: Any, path: str = "$") -> Any:
        if path != "$" and self.secret_path(path):
            return self.substitute
        if isinstance(value, dict):
            return {key: self.json(item, child_path(path, key)) for key, item in value.items()}
        if isinstance(value, list):
            return [self.json(item, item_path(path, index)) for index, item in enumerate(value)]
        if isinstance(value, str):
            return self.url(value)
        return value

    # HTML ----------------------------------------------------------------------------------

    def secret_element(self, element: Element) -> bool:
        """An input, textarea or ``meta`` whose value is a secret (by type, name or id)."""
        if element.tag not in ("input", "textarea", "meta"):
            return False
        attrs = element.attrs
        return attrs.get("type") == "password" or any(self.secret_name(attrs.get(key, "")) for key in ("name", "id", "property"))

    def html_attrs(self, element: Element, path: str) -> dict[str, str]:
        """An element's attributes fit to show (for ``html_lines``)."""
        secret = self.secret_element(element)
        shown: dict[str, str] = {}
        for name, value in element.attrs.items():
            if value and self._secret_attribute(name, secret, f"{path}/@{name}"):
                shown[name] = self.substitute
            else:
                shown[name] = self.url(value) if value else value
        return shown

    def _secret_attribute(self, name: str, secret_element: bool, path: str) -> bool:
        # Only data-* names are read by the rule: AUTH would take autocomplete and autofocus.
        return (
            (secret_element and name in ("value", "content"))
            or (name.startswith("data-") and self.secret_name(name[len("data-"):]))
            or (bool(self.selectors) and selector_matches(self.selectors, path))
        )

    def html_text(self, text: str, parent: Element) -> str:
        """A text node fit to show (for ``html_lines``): a secret textarea's content masked."""
        return self.substitute if parent.tag == "textarea" and self.secret_element(parent) else self.url(text)

    def markup(self, text: str) -> str:
        """A one-line summary of an element (``<input name="api_key" value="…">``) fit to show."""
        out: list[str] = []
        position = 0
        for match in _OPEN_TAG.finditer(text):
            out.append(self.url(text[position:match.start()]))
            attrs = {m["name"]: m["value"] or "" for m in _ATTRIBUTE.finditer(match["attrs"])}
            element = Element(match["tag"].lower(), attrs)
            shown = self.html_attrs(element, "")
            rendered = "".join(f' {name}="{value}"' if value else f" {name}" for name, value in shown.items())
            out.append(f"<{match['tag']}{rendered}{match['end']}")
            position = match.end()
            if element.tag == "textarea" and self.secret_element(element):
                closing = text.find("</textarea", position)
                out.append(self.substitute)
                position = closing if closing >= 0 else len(text)
        out.append(self.url(text[position:]))
        return "".join(out)

    def _html_value(self, path: str, value: Any, document: Element | None) -> Any:
        if not isinstance(value, str):
            return value
        owner, at, attribute = path.rpartition("/@")
        if at:
            element = element_at(document, owner) if document is not None else None
            secret = element is not None and self.secret_element(element)
            return self.substitute if self._secret_attribute(attribute, secret, path) else self.url(value)
        if self.selectors and selector_matches(self.selectors, path):
            return self.substitute
        parent_path, _, step = path.rpartition("/")
        if step.startswith("text()"):
            parent = element_at(document, parent_path) if document is not None else None
            return self.html_text(value, parent) if parent is not None else self.url(value)
        return self.markup(value)

    # Differences ---------------------------------------------------------------------------

    def difference(self, difference: Difference, documents: tuple[Element | None, Element | None] = (None, None)) -> Difference:
        """A difference fit to show; ``documents`` (the two parsed pages, for HTML differences)
        tell whether an ``@value`` belongs to a password or secret-named input."""
        path = difference.path
        if path.startswith("$"):
            return Difference(path, self._json_value(difference.legacy, path), self._json_value(difference.new, path), difference.kind)
        if path.startswith("/"):
            legacy = self._html_value(path, difference.legacy, documents[0])
            return Difference(path, legacy, self._html_value(path, difference.new, documents[1]), difference.kind)
        if path.startswith("header:"):
            name = path[len("header:"):]
            return Difference(path, self._header_value(name, difference.legacy), self._header_value(name, difference.new), difference.kind)
        if path.startswith("cookie:"):
            return difference  # flags only: cookie values are never kept (compare_headers.cookie_flags)
        return Difference(path, self._text_value(difference.legacy), self._text_value(difference.new), difference.kind)

    def differences(self, differences: Iterable[Difference], legacy: Reply | None = None, new: Reply | None = None) -> list[Difference]:
        """``difference`` for each, with the two answers they came from parsed once if needed."""
        differences = list(differences)
        documents: tuple[Element | None, Element | None] = (None, None)
        if any(difference.path.startswith("/") for difference in differences):
            documents = (_document(legacy), _document(new))
        return [self.difference(difference, documents) for difference in differences]

    def _json_value(self, value: Any, path: str) -> Any:
        if value is None:
            return None
        return self.substitute if self.secret_path(path) else self.json(value, path)

    def _header_value(self, name: str, value: Any) -> Any:
        return self.header(name, value) if isinstance(value, str) else value

    def _text_value(self, value: Any) -> Any:
        return self.text(value) if isinstance(value, str) else value


def _document(reply: Reply | None) -> Element | None:
    return parse_html(text_of(reply)) if reply is not None and is_html(reply.media_type) else None


@receiver(setting_changed)
def _forget_reporter_filter(*, setting: str, **kwargs: Any) -> None:
    """Django keeps the first exception reporter filter for good; a test that changes the
    setting (``override_settings``) must get its own."""
    if setting == "DEFAULT_EXCEPTION_REPORTER_FILTER":
        getattr(get_default_exception_reporter_filter, "cache_clear")()
