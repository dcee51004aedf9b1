"""Alert rates measured from Kafka's offsets and message timestamps, on the real broker."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from skyalert.broker.core.settings import Settings
from skyalert.broker.kafka.config import admin_config, base_config, consumer_config
from skyalert.broker.kafka.topic_rates import DAY_MS, topic_rates


def test_rates_count_the_last_day_and_the_weekly_mean(
    kafka_settings: Settings, unique_name: str
) -> None:
    admin = AdminClient(admin_config(kafka_settings))
    admin.create_topics([NewTopic(unique_name, 2, 1)])[unique_name].result()
    now = int(time.time() * 1000)
    producer = Producer(base_config(kafka_settings))
    # 4 alerts three days ago and 3 in the last hour, over both partitions.
    for i in range(4):
        producer.produce(unique_name, b"old", partition=i % 2, timestamp=now - 3 * DAY_MS)
    for i in range(3):
        producer.produce(unique_name, b"new", partition=i % 2, timestamp=now - 3_600_000)
    assert producer.flush(10) == 0
    consumer = Consumer(consumer_config(kafka_settings, unique_name))
    try:
        rates = topic_rates(consumer, [unique_name, "no.such.topic"], {unique_name: 14.0})
        short = topic_rates(consumer, [unique_name], {unique_name: 2.0})
    finally:
        consumer.close()
    assert set(rates) == {unique_name}
    assert rates[unique_name].last_day == 3
    assert rates[unique_name].per_day == 7 / 7
    # A two-day retention averages over two days: the old alerts fall outside.
    assert short[unique_name].per_day == 3 / 2
