"""The bundled project's migration plan: which legacy URLs have a new implementation."""
