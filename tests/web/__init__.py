"""Tests of qakit_trio/web/."""
