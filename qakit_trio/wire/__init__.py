"""Wire formats: the envelope protocol's messages and codes, WebSocket framing.

Pure: imports nothing of trio, quart or hypercorn, and nothing of the project but
`qakit_trio.errors`. Tested without an event loop.
"""
