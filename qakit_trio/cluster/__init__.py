"""Several instances, one stand: channels, presence and history shared through Kafka."""
