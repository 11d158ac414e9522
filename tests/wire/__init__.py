"""Tests of qakit_trio/wire/."""
