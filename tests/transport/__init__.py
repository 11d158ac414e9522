"""Tests of qakit_trio/transport/."""
