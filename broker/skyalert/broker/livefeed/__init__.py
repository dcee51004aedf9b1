"""The WebSocket live feed's framework-free core.

Hub and fan-out, live alerts, replay for resuming sockets, the protocol and its metrics.
"""
