"""The training lab: defects a teacher switches on for trainees to find (bugs.py). Pure: imports
nothing of the project but errors, and no trio/quart/hypercorn."""
