"""Small Gradio pages for the gateway's own tests: one event of each kind the guard binds."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr


def probe_page() -> gr.Blocks:
    with gr.Blocks(title="Probe") as demo:
        shown = gr.Markdown()
        text = gr.Textbox()
        upload = gr.File()
        result = gr.File()

        def whoami(request: gr.Request) -> str:
            return f"Signed in as {request.username}"

        def slow(count: str) -> Iterator[str]:
            for step in range(int(count or 3)):
                time.sleep(0.2)
                yield f"step {step}"

        def make_file(text: str, request: gr.Request) -> str:
            path = Path(tempfile.mkdtemp()) / f"{request.username}-report.txt"
            path.write_text(f"private report of {request.username}: {text}")
            return str(path)

        def echo_upload(file: str | None) -> str:
            return Path(file).read_text() if file else ""

        demo.load(whoami, None, shown, api_name="whoami")
        text.submit(slow, text, shown, api_name="slow")
        text.change(make_file, text, result, api_name="make_file")
        upload.upload(echo_upload, upload, shown, api_name="echo_upload")
    return demo


@dataclass(frozen=True)
class Page:
    path: str
    build: Callable[[], gr.Blocks]


PROBE = Page("/ui/probe", probe_page)
