"""Tests of qakit_trio/ws/."""
