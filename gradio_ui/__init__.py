"""Gradio pages served by the gateway behind the Django login.

Every ``gr.Blocks`` starts a version check and telemetry threads that call out to the
internet unless ``GRADIO_ANALYTICS_ENABLED`` says otherwise, and Gradio reads that variable
when a Blocks is made. The pages must work on a machine without outbound network, so the
default is set here, before any module of this package imports gradio; an operator who
sets the variable explicitly still wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from .registry import PAGES, GradioPage, build_pages  # noqa: E402

__all__ = ["PAGES", "GradioPage", "build_pages"]
