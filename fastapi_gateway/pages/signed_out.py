"""What a Gradio page left open after its user signed out shows on its next event.

Gradio cannot redirect: a refused ``queue/join`` becomes a red "Error" toast that shows the
401 body's ``detail`` for ten seconds, and the event's outputs are marked "Error". So the
refusal says in words what happened (``signed_out_response``), and each page carries a
small script (``signed_out_head``, given to ``gr.mount_gradio_app(head=...)``) that puts a
lasting notice at the top of the page, "You were signed out", with a link to the login page
and ``?next=`` back to the page, as soon as one of the page's own requests answers 401.

The script relies on one private detail of Gradio's browser client: it sends its requests
through ``window.fetch``, looked up when each request is made. The browser test
``test_a_stale_tab_says_it_was_signed_out`` fails when a Gradio release stops doing so.
"""

from __future__ import annotations

import json

from django.utils.html import json_script
from starlette.responses import JSONResponse

from fastapi_gateway.identity.login_redirect import login_url

__all__ = ["SIGNED_OUT_DETAIL", "login_url", "page_root", "signed_out_head", "signed_out_response"]

SIGNED_OUT_DETAIL = "Not authenticated: you were signed out. Sign in again to continue."
_NOTICE_TEXT = "You were signed out."
_LINK_TEXT = "Sign in again"
_NOTICE_ID = "gateway-signed-out"
_SETTINGS_ID = "gateway-signed-out-settings"

_NOTICE_SCRIPT = """(() => {
  if (window.__gatewaySignedOutNotice) return;
  window.__gatewaySignedOutNotice = true;
  const settings = JSON.parse(document.getElementById(__SETTINGS_ID__).textContent);
  const fetchFromPage = window.fetch;

  const isThisPage = (url) => {
    try {
      const target = new URL(url, window.location.href);
      return target.origin === window.location.origin && target.pathname.startsWith(settings.page);
    } catch {
      return false;
    }
  };

  const showNotice = () => {
    if (document.getElementById(settings.id)) return;
    const notice = document.createElement("div");
    notice.id = settings.id;
    notice.setAttribute("role", "alert");
    notice.style.cssText = [
      "position: sticky", "top: 0", "z-index: 2147483647",
      "padding: 0.75rem 1rem", "text-align: center", "font: 600 1rem/1.4 system-ui, sans-serif",
      "background: #fff4ce", "color: #3b2f00", "border-bottom: 2px solid #c79a00",
    ].join("; ");
    const link = document.createElement("a");
    link.href = settings.login_url;
    link.textContent = settings.link_text;
    link.style.cssText = "color: #1d4ed8; text-decoration: underline; margin-left: 0.5em";
    notice.append(settings.text, link);
    document.body.prepend(notice);
  };

  window.fetch = async (...args) => {
    const response = await fetchFromPage(...args);
    if (response.status === 401 && isThisPage(response.url)) showNotice();
    return response;
  };
})();"""


def page_root(path: str) -> str:
    """A page's landing path, as a browser shows it: ``/ui/tickets`` → ``/ui/tickets/``."""
    stripped = path.strip("/")
    return f"/{stripped}/" if stripped else "/"


def signed_out_response(page_path: str, *, prefix: str = "") -> JSONResponse:
    """The ``401`` for a request under the page mounted at ``page_path`` (below the site's
    ``prefix``, its root path) from a signed-out user.

    Still JSON with ``detail`` for API clients; ``detail`` is also the text Gradio's page
    shows in its error toast, and ``login_url`` says where to sign in.
    """
    return JSONResponse(
        {"detail": SIGNED_OUT_DETAIL, "login_url": login_url(prefix + page_root(page_path), prefix=prefix)},
        status_code=401,
    )


def signed_out_head(page_path: str) -> str:
    """HTML for ``gr.mount_gradio_app(head=...)`` of the page mounted at ``page_path``."""
    root = page_root(page_path)
    settings_json = json_script(
        {
            "id": _NOTICE_ID,
            "page": root,
            "login_url": login_url(root),
            "text": _NOTICE_TEXT,
            "link_text": _LINK_TEXT,
        },
        _SETTINGS_ID,
    )
    script = _NOTICE_SCRIPT.replace("__SETTINGS_ID__", json.dumps(_SETTINGS_ID))
    return f"{settings_json}\n<script>\n{script}\n</script>"
