"""The app's end of a WebSocket, and our extension of hypercorn: the only code that
touches hypercorn's (and quart's) internals.
"""
