"""One module per Gradio page, each exposing ``build() -> gr.Blocks``; listed in ``registry.PAGES``."""
