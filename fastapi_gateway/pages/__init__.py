"""Gradio pages mounted on the gateway: declared as ``GradioPage``, built and mounted behind
the Django login, and guarded (event targets, request shapes, file references, queue
ownership)."""
