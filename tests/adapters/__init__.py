"""Tests of qakit_trio/adapters/."""
