"""qakit-trio: the QA Kit WebSocket training stand on trio, quart-trio and hypercorn."""

__version__ = "0.1.0"
