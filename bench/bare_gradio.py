"""The ticket page's own ``gr.Blocks`` mounted by Gradio alone, without the gateway or a login.

The baseline of the Gradio round trip: same Blocks, same event (``signed_in_text``), same
mount options as the gateway's, so the difference is what the gateway adds (the Django
session lookup, the guard, the login redirect, the middleware stack). Served with
``uvicorn bench.bare_gradio:app``.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "legacy_django.settings")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import django  # noqa: E402

django.setup()

import gradio as gr  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from gradio_ui.pages.tickets import build  # noqa: E402

app = gr.mount_gradio_app(
    FastAPI(),
    build(),
    path="/ui/tickets",
    ssr_mode=False,
    max_file_size="50mb",
    footer_links=["api", "settings"],
    enable_monitoring=False,
    mcp_server=False,
    pwa=False,
)
