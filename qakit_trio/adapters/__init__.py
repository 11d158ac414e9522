"""Long-lived adapter tasks for PostgreSQL and Kafka, and what they read and write.
Foreign errors (psycopg, aiokafka, OSError) are translated here (errors.py).
"""
