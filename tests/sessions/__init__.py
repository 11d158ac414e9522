"""Tests of qakit_trio/sessions/."""
