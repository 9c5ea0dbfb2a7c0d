"""The support desk: an ordinary Django project, the one being migrated to FastAPI and Gradio."""
