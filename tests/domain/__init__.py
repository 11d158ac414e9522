"""Tests of qakit_trio/domain/."""
