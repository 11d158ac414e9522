"""The orders domain (pure state machine) and the order store interface with its
in-memory store. Imports no adapter.
"""
