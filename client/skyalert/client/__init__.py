"""skyalert-client: receive skyalert alerts over Kafka or WebSocket."""
