"""The page registry: what the gateway mounts, and that importing it is cheap and safe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gradio as gr
import pytest

import gradio_ui
from fastapi_gateway import GatewayConfigurationError
from gradio_ui import PAGES, GradioPage, build_pages

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_lists_the_tickets_and_assistant_pages() -> None:
    assert [(page.path, page.title) for page in PAGES] == [
        ("/ui/tickets", "Tickets"),
        ("/ui/assistant", "Assistant"),
    ]
    assert set(gradio_ui.__all__) == {"PAGES", "GradioPage", "build_pages"}
    assert GradioPage is __import__("fastapi_gateway").GradioPage  # the example uses the public page API


@pytest.mark.parametrize("path", ["ui/tickets", "/ui/tickets/", "/", "/ui//tickets"])
def test_a_page_path_is_a_mount_path(path: str) -> None:
    with pytest.raises(GatewayConfigurationError, match="trailing slash"):
        GradioPage(path, "Bad", lambda: gr.Blocks())


async def test_every_registered_page_builds_blocks_titled_like_the_page() -> None:
    built = build_pages()
    assert [page for page, _ in built] == list(PAGES)
    for page, blocks in built:
        assert isinstance(blocks, gr.Blocks)
        assert blocks.title == page.title


async def test_two_pages_on_one_path_are_refused() -> None:
    page = GradioPage("/ui/x", "X", lambda: gr.Blocks(title="X"))
    with pytest.raises(ValueError, match="/ui/x"):
        build_pages([page, page])


def test_a_builder_that_returns_something_else_is_refused() -> None:
    with pytest.raises(GatewayConfigurationError, match="not a gr.Blocks"):
        GradioPage("/ui/x", "X", "os:getcwd").blocks()


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GRADIO_"))}
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        cwd=PROJECT_ROOT,
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_importing_the_registry_needs_neither_django_setup_nor_gradio() -> None:
    """The gateway reads ``gradio_ui:PAGES`` from its settings; that must not import models."""
    result = _python(
        "import os, sys, gradio_ui;"
        "assert 'gradio' not in sys.modules, 'gradio imported';"
        "assert 'gradio_ui.pages.tickets' not in sys.modules, 'page imported';"
        "print(os.environ['GRADIO_ANALYTICS_ENABLED'])"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_an_operator_can_still_turn_gradio_analytics_on() -> None:
    result = _python(
        "import os, gradio_ui; print(os.environ['GRADIO_ANALYTICS_ENABLED'])",
        GRADIO_ANALYTICS_ENABLED="True",
    )
    assert result.stdout.strip() == "True", result.stderr
