"""``python -m fastapi_gateway [--host H] [--port P] [--workers N]``: serve the Django project
named by ``DJANGO_SETTINGS_MODULE`` (run from the project's directory) through the gateway."""

from __future__ import annotations

from fastapi_gateway.server.launcher import main

if __name__ == "__main__":
    main()
