"""The run's record, the dict `train` returns, and every figure read from it, computed here once.

Keys: `model` (the label), `ctx`, `epochs`; per epoch `train_ppl`, `val_ppl`, `tokens_per_sec`,
`seconds`; `best_val_ppl`, `best_epoch`; `unigram_ppl` (a model ignoring context); `texts`;
`worker` (rank, workers) under a parameter server; `stopped_early`; instruments' own keys.
"""
from .config import UsageError
from .data import unigram_perplexity
from .distributed import SINGLE_PROCESS


def new_history(label, ctx, train_iter, val_iter, vocab, worker=SINGLE_PROCESS):
    """An empty history for run `label` (with `val_iter`: the held-out text's unigram level)."""
    history = {'model': label, 'ctx': str(ctx), 'epochs': 0,
               'train_ppl': [], 'val_ppl': [], 'tokens_per_sec': [], 'seconds': []}
    if val_iter is not None and hasattr(train_iter, 'corpus') and hasattr(val_iter, 'corpus'):
        history['unigram_ppl'] = unigram_perplexity(train_iter.corpus, val_iter.corpus,
                                                    len(vocab))
    if hasattr(train_iter, 'texts'):  # which texts trained and which validated (data.py)
        history['texts'] = {'train': train_iter.texts, 'validate': getattr(val_iter, 'texts', [])}
    if worker.kv is not None:
        history['worker'] = [worker.rank, worker.num_workers]
    return history


def record_epoch(history, epoch, ppl, tokens_per_sec, seconds, val_ppl=None):
    """Add epoch `epoch`'s figures to the history, and keep its best validation epoch."""
    history['train_ppl'].append(ppl)
    history['tokens_per_sec'].append(tokens_per_sec)
    history['seconds'].append(seconds)
    if val_ppl is not None:
        history['val_ppl'].append(val_ppl)
        history['best_val_ppl'], history['best_epoch'] = best_epoch(history)
    history['epochs'] = epoch


def best_epoch(history):
    """(the best validation perplexity, its epoch): the first of equals. Read by every caller."""
    val = history['val_ppl']
    if not val:
        raise UsageError('the history has no validation perplexity; train with val_iter')
    return min(val), val.index(min(val)) + 1


def tokens_per_sec(history):
    """Training tokens/s of the run, less the first epoch's one-time costs (allocation, graph)."""
    rates, seconds = history['tokens_per_sec'], history['seconds']
    if not rates:
        raise UsageError('the history has no epochs')
    start = 1 if len(rates) > 1 else 0
    tokens = sum(r * s for r, s in zip(rates[start:], seconds[start:]))
    return tokens / sum(seconds[start:])


def result_row(history):
    """The run in one row, as the main job's summary and the sweep's table give it."""
    best, at = best_epoch(history) if history['val_ppl'] else (None, None)
    to_best = sum(history['seconds'][:at]) if at else None
    return {'epochs': history['epochs'], 'train_ppl': history['train_ppl'][-1],
            'val_ppl': history['val_ppl'][-1] if history['val_ppl'] else None,
            'best_val_ppl': best, 'best_epoch': at, 'best_seconds': to_best,
            'tokens_per_sec': tokens_per_sec(history), 'seconds': sum(history['seconds'])}
