"""WebSocket connections and fan-out: one connection's reader and writer, its bounded
outbox, the hub of channels, pings and the slow-consumer watch, /ws/echo.
"""
