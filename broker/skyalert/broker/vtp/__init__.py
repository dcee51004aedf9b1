"""The VOEvent Transport Protocol channel: the subscriber and author endpoints of GCN Classic.

``frames`` is the sans-I/O core (length-prefixed frames, Transport messages); ``access`` the
address-range policies; ``subscribers`` and ``authors`` the asyncio servers; ``worker`` runs them.
"""
