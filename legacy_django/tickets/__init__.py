"""Support tickets: the app whose pages and API are moved to FastAPI and Gradio one route at a time."""
