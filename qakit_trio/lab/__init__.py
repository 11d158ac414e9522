"""The training lab: the bugs a teacher switches on for trainees to find (bugs.py, pure) and
the faults trainees and teachers ask for, put in front of a request as wrappers by the lab's
pipeline stage (lab.py). Nothing outside this folder reads a bug's switch."""
