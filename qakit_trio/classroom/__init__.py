"""The classroom: bugs per trainee, findings proved by replay, the teacher\x27s board."""
