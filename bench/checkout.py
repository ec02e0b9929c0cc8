"""Imported first by bench.py and row.py: the repository's root, the folder holding bench/,
goes on sys.path right after bench/ itself, so the bench and every row time this checkout's
d2l_deep_rnn, never another copy installed in the environment."""
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(1, REPO)
