"""Kafka access.

Client config, admin, the shared producer, topic state and rates, the inboxes, and the
local broker runners (Apache Kafka, tansu). Built on ``core`` only.
"""
