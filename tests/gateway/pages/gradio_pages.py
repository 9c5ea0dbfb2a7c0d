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


#: Components whose value can carry files, each with an echo event (output = input).
ECHOED: dict[str, Callable[[], gr.Component]] = {
    "chatbot": lambda: gr.Chatbot(),
    "json": lambda: gr.JSON(),
    "file": lambda: gr.File(),
    "files": lambda: gr.File(file_count="multiple"),
    "image": lambda: gr.Image(type="filepath"),
    "gallery": lambda: gr.Gallery(),
    "audio": lambda: gr.Audio(type="filepath"),
    "video": lambda: gr.Video(),
    "model3d": lambda: gr.Model3D(),
    "multimodal": lambda: gr.MultimodalTextbox(),
}


def echo_page() -> gr.Blocks:
    """An event per file-bearing component that hands its input straight back, with Gradio's
    processing (``echo_<name>``) and without it (``raw_<name>``), as chat undo/retry do; and
    pages whose own code turns client text into file references (bugs a page could have)."""
    with gr.Blocks(title="Echo") as demo:
        for name, make in ECHOED.items():
            component = make()
            gr.Button(f"echo {name}").click(lambda value: value, component, component, api_name=f"echo_{name}")
            gr.Button(f"raw {name}").click(
                lambda value: value, component, component, api_name=f"raw_{name}", preprocess=False, postprocess=False
            )
            gr.Button(f"raw in {name}").click(lambda value: value, component, component, api_name=f"rawin_{name}", preprocess=False)
        text = gr.Textbox()
        path_out = gr.File()
        json_out = gr.JSON()
        gr.Button("path from text").click(lambda value: value, text, path_out, api_name="path_from_text")
        gr.Button("json from text").click(
            lambda value: {"path": value, "url": f"/gradio_api/file={value}", "meta": {"_type": "gradio.FileData"}},
            text,
            json_out,
            api_name="json_from_text",
        )
    return demo


def state_page() -> gr.Blocks:
    """A session's private ``gr.State``, with every way of reaching it: queued, direct (no
    queue), a media stream reading it, and a generator stream that keeps running."""
    with gr.Blocks(title="State") as demo:
        secret = gr.State("")
        text = gr.Textbox()
        out = gr.Textbox()
        text.submit(lambda value: value, text, secret, api_name="remember")
        frames = gr.Image(sources=["webcam"], streaming=True)
        frames.stream(lambda _frame, kept: f"state={kept!r}", [frames, secret], out, api_name="peek", stream_every=0.1, time_limit=30)
        listened = gr.Image(sources=["webcam"], streaming=True)

        def listen(_frame: object, kept: str) -> Iterator[str]:
            for step in range(100):
                yield f"{kept}#{step}"

        listened.stream(listen, [listened, secret], out, api_name="listen", stream_every=0.1, time_limit=30, concurrency_limit=None)

        def slow(value: str) -> Iterator[str]:
            for step in range(8):
                time.sleep(0.3)
                yield f"{value} step {step}"

        text.change(slow, text, out, api_name="slow", concurrency_limit=None)
        gr.Button("set").click(lambda value: value, text, secret, api_name="set_direct", queue=False)
        gr.Button("get").click(lambda kept: f"state={kept!r}", secret, out, api_name="get_direct", queue=False)

        def note(value: str) -> str:
            NOTES.set("note", text=value)
            return "kept"

        def recall() -> str:
            entry = NOTES.get("note")
            return f"note={entry['text'] if entry else None!r}"

        gr.Button("note").click(note, text, out, api_name="note", queue=False)
        gr.Button("recall").click(recall, None, out, api_name="recall", queue=False)

        def team(session_hash: str) -> str:  # a parameter that happens to share Gradio's name
            return f"team {session_hash}"

        gr.Button("team").click(team, text, out, api_name="team")
    return demo


#: A per-session cache (``gr.Cache(per_session=True)``): what one session keeps, by its hash.
NOTES = gr.Cache(per_session=True)


@dataclass(frozen=True)
class Page:
    path: str
    build: Callable[[], gr.Blocks]
    allowed_paths: tuple[str, ...] = ()


PROBE = Page("/ui/probe", probe_page)
ECHO = Page("/ui/echo", echo_page)
STATE = Page("/ui/state", state_page)
