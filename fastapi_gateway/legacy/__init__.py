"""The legacy side: the Django WSGI app behind a one-hop bridge, its admission of requests
to a few threads, the lane that sends unclaimed URLs straight to it, and Django-side outage
handling."""
