"""The request pipeline: one request from any door (request.py), the stages every door
shares (stages.py), and where events go (events.py, trail.py). The order of the stages:
sessions/pipeline.py."""
