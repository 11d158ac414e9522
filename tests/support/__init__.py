"""What the tests share: real servers (helpers.py), a raw WebSocket client (wsraw.py), a
PostgreSQL cluster (pg.py), a Kafka broker (kafka_broker.py) and a topic reader
(kafka_topics.py)."""
