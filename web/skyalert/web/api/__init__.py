"""JSON routes.

The HTTP API under ``/api/v1``, the OAuth2/OIDC endpoints, the live-feed socket, discovery,
health and metrics, and the authentication dependencies every route uses.
"""
