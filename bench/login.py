"""Log in through Django's real login form, as a browser does: GET the form, POST it with
the CSRF token. The cookies a load generator then sends are the ones Django set."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

__all__ = ["Login", "check_page", "log_in"]

PASSWORD = "demo-password"  # what ``manage.py seed_demo`` sets
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class Login:
    username: str
    sessionid: str
    csrftoken: str

    @property
    def cookie(self) -> str:
        return f"sessionid={self.sessionid}; csrftoken={self.csrftoken}"

    @property
    def cookies(self) -> dict[str, str]:
        return {"sessionid": self.sessionid, "csrftoken": self.csrftoken}


def log_in(base_url: str, username: str = "alice") -> Login:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        form = client.get("/accounts/login/")
        token = _CSRF.search(form.text)
        if form.status_code != 200 or token is None:
            raise RuntimeError(f"{base_url}: no login form ({form.status_code})")
        answer = client.post(
            "/accounts/login/",
            data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1)},
        )
        if answer.status_code != 302 or "sessionid" not in client.cookies:
            raise RuntimeError(f"{base_url}: logging in as {username} failed ({answer.status_code})")
        return Login(username, client.cookies["sessionid"], client.cookies["csrftoken"])


def check_page(base_url: str, path: str, login: Login, must_contain: str) -> None:
    """The page answers 200 with the user's data: a lost session would benchmark a redirect."""
    answer = httpx.get(base_url + path, cookies=login.cookies, timeout=30)
    if answer.status_code != 200 or must_contain not in answer.text:
        raise RuntimeError(f"{base_url}{path} as {login.username}: {answer.status_code}, expected 200 with {must_contain!r}")
