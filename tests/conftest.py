"""Shared fixtures: the corpus folder (never a copy in the repository) and headless plots."""
import os

os.environ.setdefault('MPLBACKEND', 'Agg')

import d2l_deep_rnn  # noqa: E402,F401  (before any test imports MXNet: its thread settings)
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), 'shared', 'data')


@pytest.fixture(scope='session')
def data_dir():
    """$D2L_DEEP_RNN_DATA, else ../shared/data beside the repository, else the user cache
    (where the main job downloads the corpus)."""
    env = os.environ.get('D2L_DEEP_RNN_DATA')
    if env:
        return env
    if os.path.isfile(os.path.join(SHARED_DATA, 'timemachine.txt')):
        return SHARED_DATA
    return None


@pytest.fixture(scope='session')
def corpus_path(data_dir):
    from d2l_deep_rnn.data import find_corpus
    return find_corpus(data_dir)
