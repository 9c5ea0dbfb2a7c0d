"""Secrets are masked before anything is stored or shown, including a differing secret's values."""

from __future__ import annotations

from fastapi_gateway.parity.difference import Difference
from fastapi_gateway.parity.html_document import Element
from fastapi_gateway.parity.redaction import REDACTED, Redactor


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
    nested = redactor.difference(Difference("$[0]", {"id": 1, "session": "s"}, None, "missing"))
    assert nested.legacy == {"id": 1, "session": REDACTED}


def test_cookie_values_credentials_and_secret_query_parameters_are_masked() -> None:
    shown = Redactor().headers([
        ("set-cookie", "sessionid=abc123; HttpOnly; Path=/"), ("cookie", "sessionid=abc123"),
        ("location", "/reset/?token=t0k3n&next=/x"), ("content-type", "text/html"),
    ])
    assert shown == [
        ("set-cookie", f"sessionid={REDACTED}; HttpOnly; Path=/"), ("cookie", REDACTED),
        ("location", f"/reset/?token={REDACTED}&next=/x"), ("content-type", "text/html"),
    ]


def test_html_inputs_and_free_text_lose_their_secrets() -> None:
    redactor = Redactor()
    assert redactor.html_attrs(Element("input", {"type": "password", "name": "pw", "value": "hunter2"}), "/x")["value"] == REDACTED
    assert redactor.html_attrs(Element("input", {"name": "api_token", "value": "abc"}), "/x")["value"] == REDACTED
    assert redactor.html_attrs(Element("input", {"name": "title", "value": "Printer"}), "/x")["value"] == "Printer"
    assert redactor.text("user=alice&session_id=abc123; token: xyz") == f"user=alice&session_id={REDACTED}; token: {REDACTED}"
