"""Read skyalert alerts with a stock confluent-kafka consumer (no skyalert code needed).

SKYALERT_CLIENT_ID=… SKYALERT_CLIENT_SECRET=… python consume.py https://alerts.example.org TOPIC
"""

import json
import os
import sys
import urllib.request

from confluent_kafka import Consumer

server, topic = sys.argv[1].rstrip("/"), sys.argv[2]
with urllib.request.urlopen(f"{server}/.well-known/skyalert") as answer:  # noqa: S310
    discovery = json.load(answer)
client_id = os.environ["SKYALERT_CLIENT_ID"]
consumer = Consumer(
    {
        "bootstrap.servers": discovery["kafka"]["bootstrap_servers"],
        "security.protocol": discovery["kafka"]["security_protocol"],
        "sasl.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.client.id": client_id,
        "sasl.oauthbearer.client.secret": os.environ["SKYALERT_CLIENT_SECRET"],
        "sasl.oauthbearer.token.endpoint.url": discovery["token_endpoint"],
        "group.id": f"{client_id}-example",
        "auto.offset.reset": "earliest",
    }
)
consumer.subscribe([topic])
try:
    while True:
        message = consumer.poll(1.0)
        if message is None:
            continue
        if message.error() is not None:
            print("error:", message.error(), file=sys.stderr)
            continue
        print(message.topic(), message.value().decode(errors="replace"))
finally:
    consumer.close()
