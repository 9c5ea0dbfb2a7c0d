"""Who is asking: Django's own session cookie read into a Django user (the session adapter),
and its doors: an ASGI middleware, FastAPI dependencies, the login redirect, CSRF and origin
checks for the new side."""
