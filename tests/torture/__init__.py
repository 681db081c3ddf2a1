"""The torture suite: a seeded, time-boxed run of crashes, faults, hand edits and load.

``python -m tests.torture.runner --seconds 600 --seed 7`` runs a long pass; the pytest
test in ``test_torture.py`` (marker ``torture``) runs a 30-second one.
"""
