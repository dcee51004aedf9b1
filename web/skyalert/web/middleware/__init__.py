"""ASGI middleware: CSRF, security headers, server timing."""
