"""`qakit-trio replay`: a recorded session (HAR or JSON lines, wire/sessions.py) sent again to
a stand, its replies compared with the recording's (wire/session_diff.py). docs/replay.md."""
