"""The run's record: its figures computed once, from the history `train` returns."""
import pytest

from d2l_deep_rnn import UsageError
from d2l_deep_rnn.history import best_epoch, record_epoch, result_row, tokens_per_sec


def test_tokens_per_sec_leaves_out_the_warm_up_epoch():
    history = {'tokens_per_sec': [100.0, 1000.0, 3000.0], 'seconds': [10.0, 2.0, 1.0]}
    assert tokens_per_sec(history) == (2000 + 3000) / 3  # epochs 2 and 3: 5,000 tokens in 3 s
    assert tokens_per_sec({'tokens_per_sec': [100.0], 'seconds': [10.0]}) == 100
    with pytest.raises(UsageError, match='no epochs'):
        tokens_per_sec({'tokens_per_sec': [], 'seconds': []})


def test_best_epoch_is_the_first_of_equals_as_recorded_and_seconds_reach_its_end():
    history = {'train_ppl': [], 'val_ppl': [], 'tokens_per_sec': [], 'seconds': []}
    for epoch, val in enumerate([9.0, 7.0, 7.0, 8.0], 1):
        record_epoch(history, epoch, 10.0 - epoch, 100.0 * epoch, float(epoch), val)
    assert (history['best_val_ppl'], history['best_epoch']) == (7.0, 2)
    assert best_epoch(history) == (7.0, 2)
    assert result_row(history) == {
        'epochs': 4, 'train_ppl': 6.0, 'val_ppl': 8.0, 'best_val_ppl': 7.0, 'best_epoch': 2,
        'best_seconds': 3.0, 'tokens_per_sec': (200 * 2 + 300 * 3 + 400 * 4) / 9,
        'seconds': 10.0}


def test_a_run_without_held_out_text_has_no_best_epoch():
    history = {'epochs': 1, 'train_ppl': [5.0], 'val_ppl': [], 'tokens_per_sec': [10.0],
               'seconds': [2.0]}
    assert result_row(history)['best_epoch'] is None
    with pytest.raises(UsageError, match='no validation perplexity'):
        best_epoch(history)
