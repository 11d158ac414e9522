"""What messages mean: the two protocols' sessions, the actions, and where events go
(clients, logs, Kafka).
"""
