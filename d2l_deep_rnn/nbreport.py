"""The notebooks' words, computed from what a run measured: when and where outputs were
produced, result lines, gaps between curves, and the observation sentences of the two-layer
exercise and of the generalization notebook (built from the numbers, so they hold for any
run). Notebook-only: no command imports it."""
import math
import time

from .config import UsageError
from .diagnostics import summarize
from .machine import describe_machine
from .history import best_epoch, tokens_per_sec


# --- where and how long -------------------------------------------------------------------

def format_duration(seconds):
    """42.3 -> '42 s', 185 -> '3 min 05 s', 3725 -> '1 h 02 min'."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds} s'
    if seconds < 3600:
        return f'{seconds // 60} min {seconds % 60:02d} s'
    return f'{seconds // 3600} h {seconds % 3600 // 60:02d} min'


def produced_line(ctx, seconds, date=None):
    """'Outputs produced on 2026-05-09 on cpu(0): ..., in 3 min 05 s.'"""
    date = date or time.strftime('%Y-%m-%d')
    return f'Outputs produced on {date} on {describe_machine(ctx)}, in {format_duration(seconds)}.'


# --- numbers of one run ---------------------------------------------------------------------

def result_line(history, label=None):
    """The fixed-format line the notebooks print (the book's, plus validation):
    '[label: ]perplexity 1.05, validation perplexity 9.87, 52,345 tokens/sec on cpu(0)'."""
    line = f"perplexity {history['train_ppl'][-1]:.2f}"
    if history.get('val_ppl'):
        line += f", validation perplexity {history['val_ppl'][-1]:.2f}"
    line += f", {tokens_per_sec(history):,.0f} tokens/sec on {history['ctx']}"
    return f'{label}: {line}' if label else line


def max_gap(histories):
    """The largest |difference| between any two runs' perplexities at the same epoch, over
    training and validation curves: dict(gap, relative, epoch, curve, between=(a, b))."""
    labels = list(histories)
    best = dict(gap=0.0, relative=0.0, epoch=None, curve=None, between=None)
    for i, a in enumerate(labels):
        for b in labels[i + 1:]:
            for key, curve in (('train_ppl', 'training'), ('val_ppl', 'validation')):
                for epoch, (x, y) in enumerate(zip(histories[a].get(key, []),
                                                   histories[b].get(key, [])), start=1):
                    if best['between'] is None or abs(x - y) > best['gap']:
                        best = dict(gap=abs(x - y), relative=abs(x - y) / max(x, y),
                                    epoch=epoch, curve=curve, between=(a, b))
    if best['between'] is None:
        raise UsageError('max_gap needs two or more histories with epochs in common')
    return best


def gap_line(histories, tolerance=1e-3):
    """'largest gap between the curves: 2.1e-05 perplexity (relative 1.2e-06; training,
    epoch 13, scratch vs Gluon hybridized): they coincide within 0.1%', or '...: they are
    identical' when every gap is zero."""
    g = max_gap(histories)
    a, b = g['between']
    if g['gap'] == 0:
        return 'largest gap between the curves: 0.0e+00 perplexity: they are identical'
    verdict = (f'they coincide within {tolerance:.1%}' if g['relative'] <= tolerance else
               f'they differ by more than {tolerance:.1%}')
    return (f"largest gap between the curves: {g['gap']:.1e} perplexity (relative "
            f"{g['relative']:.1e}; {g['curve']}, epoch {g['epoch']}, {a} vs {b}): {verdict}")


# --- the two-layer exercise -----------------------------------------------------------------

def halfway_level(histories):
    """A training perplexity every run reaches: halfway, in log-perplexity (that is, in
    loss), from the lowest first-epoch perplexity down to the highest best perplexity."""
    start = min(h['train_ppl'][0] for h in histories.values())
    worst_best = max(min(h['train_ppl']) for h in histories.values())
    return start, worst_best, math.exp((math.log(start) + math.log(worst_best)) / 2)


def first_epoch_below(curve, level):
    """The first epoch (1-based) whose value is <= level, or None."""
    return next((e for e, v in enumerate(curve, start=1) if v <= level), None)


def listing(items):
    """['a'] -> 'a'; ['a', 'b'] -> 'a and b'; ['a', 'b', 'c'] -> 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]


def compare_runs(histories, params=None, overfit_margin=0.05):
    """Observation sentences about runs trained on the same data for the same epochs
    ({label: history}, two or more), each sentence carrying the numbers it rests on:

    - time per epoch and tokens per second;
    - learning per epoch and per second: when each first reaches a training perplexity
      all of them reach (`halfway_level`), counted in epochs and in seconds;
    - which reaches the lowest validation perplexity, and when;
    - overfitting: validation perplexity rising more than `overfit_margin` above its best
      while training perplexity keeps falling;
    - parameter counts (`params`: {label: count});
    - per layer, when the runs were trained with `Diagnostics()`: gradient norms,
      clipping, update sizes and saturation (`diagnostic_sentences`).
    """
    if len(histories) < 2:
        raise UsageError('compare_runs compares two or more runs')
    labels = list(histories)
    sentences = []

    def unique_best(values, best):  # True unless another label ties with the best
        return list(values.values()).count(values[best]) == 1

    # speed
    per_epoch = {k: sum(h['seconds']) / len(h['seconds']) for k, h in histories.items()}
    rates = {k: tokens_per_sec(h) for k, h in histories.items()}
    fastest = max(labels, key=rates.get)
    sentences.append(
        'Throughput: ' + listing(f'{rates[k]:,.0f} tokens/s for {k} ({per_epoch[k]:.2f} s per '
                                 f'epoch)' for k in labels)
        + f'; the fastest is {fastest}, at '
        + listing(f'{rates[fastest] / rates[k]:.2f}x the tokens/s of {k}'
                  for k in labels if k != fastest) + '.')

    # learning per epoch and per second
    start, worst_best, level = halfway_level(histories)
    reach = {k: first_epoch_below(h['train_ppl'], level) for k, h in histories.items()}
    if all(reach.values()):
        secs = {k: sum(histories[k]['seconds'][:reach[k]]) for k in labels}
        by_epoch, by_time = min(labels, key=reach.get), min(labels, key=secs.get)
        sentences.append(
            f'Per epoch: training perplexity first reaches {level:.2f} (halfway in loss from '
            f'{start:.2f}, the lowest after epoch 1, to {worst_best:.2f}, the highest of the '
            f'runs\' best values) '
            + listing(f'at epoch {reach[k]} for {k}' for k in labels)
            + (f'; the fastest learner per epoch is {by_epoch}.'
               if unique_best(reach, by_epoch) else '; a tie per epoch.'))
        sentences.append(
            'Per second: reaching it took ' + listing(f'{secs[k]:.1f} s for {k}' for k in labels)
            + (f'; the first there in wall-clock time is {by_time}.'
               if unique_best(secs, by_time) else '; a tie in wall-clock time.'))

    # validation and overfitting
    if all(h.get('val_ppl') for h in histories.values()):
        best = {k: min(h['val_ppl']) for k, h in histories.items()}
        at = {k: h['val_ppl'].index(best[k]) + 1 for k, h in histories.items()}
        winner = min(labels, key=best.get)
        sentences.append(
            f'Validation: the lowest validation perplexity is reached by {winner}: '
            f'{best[winner]:.2f} at epoch {at[winner]}, against '
            + listing(f'{best[k]:.2f} at epoch {at[k]} for {k}' for k in labels if k != winner)
            + '.')
        for k in labels:
            sentences.append(overfitting(k, histories[k], overfit_margin))

    if params:
        smallest = min(params, key=params.get)
        sentences.append(
            'Parameters: ' + listing(f'{params[k]:,} for {k}' for k in params) + '; '
            + listing(f'{params[k] / params[smallest]:.2f}x as many for {k} as for {smallest}'
                      for k in params if k != smallest) + '.')

    if all('grad_norm' in h for h in histories.values()):
        sentences += diagnostic_sentences(histories)
    return sentences


def diagnostic_sentences(histories):
    """Per run: which layer's gradient is largest (mean over epochs, before clipping), how
    often clipping fired, the update/weight ratio per layer, and the saturation per hidden
    layer at the end and at its peak."""
    sentences = []
    for k, h in histories.items():
        d = summarize(h)
        hidden = d['layers'][:len(d['saturation'])]
        top = max(hidden, key=lambda name: d['grad_norm'][d['layers'].index(name)])
        sentences.append(
            f'Gradients, {k}: mean norm before clipping '
            + listing(f"{g:.3g} for {name}" for name, g in zip(d['layers'], d['grad_norm']))
            + (f'; the largest hidden-layer gradient is {top}\'s.' if len(hidden) > 1 else '.'))
        first, last = h['clip_fraction'][0], h['clip_fraction'][-1]
        sentences.append(
            f"Clipping, {k}: it fired on {d['clip_fraction']:.0%} of the steps over the run "
            f"({first:.0%} in epoch 1, {last:.0%} in epoch {len(h['clip_fraction'])}).")
        sentences.append(
            f'Update size, {k}: a step changed the weights by '
            + listing(f'{r:.2e} of their norm for {name}'
                      for name, r in zip(d['layers'], d['update_ratio'])) + ' (mean over steps).')
        peak = [max(row[l] for row in h['saturation']) for l in range(len(hidden))]
        sentences.append(
            f'Saturation, {k}: in the last epoch '
            + listing(f'{s:.1%} of {name}\'s activations' for name, s in zip(hidden,
                                                                          d['saturation']))
            + ' were saturated (peak ' + listing(f'{p:.1%}' for p in peak) + ').')
    return sentences


def after_best(history, margin=0.05):
    """What followed the best validation epoch: (pattern, best, its epoch, epochs, the last
    validation perplexity, training perplexity at the best epoch and at the end). The
    pattern: 'none' (the last within `margin` of the best), 'overfit' (validation up,
    training down) or 'unstable' (both up)."""
    val, train = history['val_ppl'], history['train_ppl']
    best, at, _ = best_epoch(history)
    n, end, train_then, train_end = len(val), val[-1], train[at - 1], train[-1]
    pattern = 'none' if end <= best * (1 + margin) else \
        'overfit' if train_end < train_then else 'unstable'
    return pattern, best, at, n, end, train_then, train_end


def overfitting(label, history, margin=0.05):
    """One sentence on whether validation perplexity turned up while training kept falling."""
    pattern, best, at, n, end, train_then, train_end = after_best(history, margin)
    if pattern == 'none':
        still = (f'validation perplexity is at its best, {best:.2f}, in the last epoch'
                 if at == n else
                 f'the final validation perplexity, {end:.2f}, is within {margin:.0%} of the '
                 f'best, {best:.2f} (epoch {at})')
        return (f'Overfitting, {label}: none within {n} epochs; {still}, and training '
                f'perplexity ends at {train_end:.2f}.')
    if pattern == 'overfit':
        return (f'Overfitting, {label}: after epoch {at}, validation perplexity rises from '
                f'{best:.2f} to {end:.2f} at epoch {n} while training perplexity falls from '
                f'{train_then:.2f} to {train_end:.2f}.')
    return (f'Overfitting, {label}: not the pattern here: validation perplexity rises from '
            f'{best:.2f} (epoch {at}) to {end:.2f} at epoch {n}, but training perplexity does '
            f'not fall ({train_then:.2f} then, {train_end:.2f} at the end): training became '
            f'unstable.')


# --- generalization: the section's run, then depth and dropout on the whole book ------------

def run_label(num_layers, dropout=0):
    """(1, 0) -> '1 layer'; (2, 0) -> '2 layers'; (3, 0.5) -> '3 layers, dropout 0.5'."""
    label = '1 layer' if num_layers == 1 else f'{num_layers} layers'
    return label + (f', dropout {dropout:g}' if dropout else '')


def best_run(histories):
    """The key of the run with the lowest validation perplexity (the first, in a tie)."""
    return min(histories, key=lambda key: min(histories[key]['val_ppl']))


TABLE_COLUMNS = ('parameters', 'epochs', 'best val ppl', 'best epoch', 'seconds to best',
                 'tokens/s', 'final train ppl')


def run_table(histories, params):
    """A text table, a row per run ({(num_layers, dropout): history}; `params`: the same keys):
    parameters, epochs trained, best validation perplexity, its epoch, the seconds to reach
    it, tokens/s and the last epoch's training perplexity. Returns the lines."""
    labels = {key: run_label(*key) for key in histories}
    width = max(len(label) for label in ['run', *labels.values()]) + 2
    lines = ['run'.ljust(width) + '  '.join(TABLE_COLUMNS)]
    for key, h in histories.items():
        best, at, seconds = best_epoch(h)
        cells = (f'{params[key]:,}', f"{len(h['train_ppl'])}", f'{best:.2f}', f'{at}',
                 f'{seconds:.1f}', f'{tokens_per_sec(h):,.0f}', f"{h['train_ppl'][-1]:.2f}")
        lines.append(labels[key].ljust(width) +
                     '  '.join(c.rjust(len(name)) for c, name in zip(cells, TABLE_COLUMNS)))
    return lines


def generalization_observations(section, histories, params, margin=0.05):
    """Observation sentences of the generalization notebook, each citing the numbers it rests
    on, in this order of topics: Memorizing (the section's run, `section`: its history), then
    about the whole-book runs (`histories`: {(num_layers, dropout): history}; `params`: their
    parameter counts, the same keys) Depth, Dropout, Unigram (when the histories hold
    `unigram_ppl`), Stopping, Cost and Best.

    Validation perplexities are compared as printed, to two decimals: equal printed values
    are a tie. `margin`: how far above its best a final validation perplexity may end and
    still count as no overfitting, and how close to the unigram level counts as near it.
    """
    if not histories:
        raise UsageError('generalization_observations needs one or more whole-book runs')
    sentences = [memorizing(section, margin), depth_sentence(histories),
                 dropout_sentence(histories)]
    if all('unigram_ppl' in h for h in histories.values()):
        sentences.append(unigram_sentence(histories, margin))
    sentences += [stopping_sentence(histories), cost_sentence(histories, params),
                  best_sentence(section, histories)]
    return sentences


def memorizing(history, margin=0.05):
    """Did the section's run fit its training text better while the held-out text got worse?"""
    pattern, best, at, n, end, train_then, train_end = after_best(history, margin)
    if pattern == 'none':
        return (f"Memorizing: none within the {n} epochs of the section's run: validation "
                f'perplexity ended at {end:.2f}, within {margin:.0%} of its best, {best:.2f} '
                f'(epoch {at}), and training perplexity at {train_end:.2f}.')
    if pattern == 'overfit':
        return (f"Memorizing: in the section's run training perplexity fell to {train_end:.2f} "
                f'({train_then:.2f} in epoch {at}) while validation perplexity was best at '
                f'{best:.2f} in epoch {at} and ended at {end:.2f} (epoch {n}): after its best '
                f'epoch the model fit its training text better and the held-out text worse.')
    return (f"Memorizing: not the pattern in the section's run: validation perplexity was best "
            f'at {best:.2f} in epoch {at} and ended at {end:.2f}, but training perplexity did '
            f'not fall after that ({train_then:.2f} then, {train_end:.2f} at the end): '
            f'training became unstable.')


def printed(value):
    """A perplexity as the sentences print it (two decimals), for comparisons."""
    return round(value, 2)


def depth_sentence(histories):
    """Without dropout: each depth's best validation perplexity, against the shallowest's."""
    plain = {key: h for key, h in sorted(histories.items()) if key[1] == 0}
    if not plain:
        return 'Depth: no run without dropout to compare depths with.'
    best = {key: best_epoch(h)[:2] for key, h in plain.items()}
    text = ('Depth: without dropout, the best validation perplexity was '
            + listing(f'{b:.2f} with {run_label(*key)} (epoch {at})'
                      for key, (b, at) in best.items()))
    if len(plain) == 1:
        return text + ', the only depth trained without dropout.'
    base = next(iter(plain))

    def against(key):
        change = printed(best[key][0]) - printed(best[base][0])
        if abs(change) < 0.005:
            return f'{run_label(*key)} equal'
        return f"{run_label(*key)} {abs(change):.2f} {'lower' if change < 0 else 'higher'}"
    text += f'; against {run_label(*base)}: ' + listing(against(key) for key in plain
                                                        if key != base)
    low = min(printed(b) for b, _ in best.values())
    lowest = [key for key, (b, _) in best.items() if printed(b) == low]
    if len(lowest) > 1:
        return text + f'; the lowest, {low:.2f}, is shared by ' + \
            listing(run_label(*key) for key in lowest) + '.'
    if lowest[0] == base:
        return text + f'; no deeper model beat {run_label(*base)}.'
    drop = 1 - best[lowest[0]][0] / best[base][0]
    return text + (f'; the lowest is {possessive(run_label(*lowest[0]))} ({drop:.1%} below '
                   f'{possessive(run_label(*base))}).')


def possessive(label):
    """'1 layer' -> "1 layer's"; '2 layers' -> "2 layers'"."""
    return label + ("'" if label.endswith('s') else "'s")


def dropout_sentence(histories):
    """At each depth trained without and with dropout: what dropout did to the best
    validation perplexity."""
    pairs = [(L, p) for L, p in sorted(histories) if p > 0 and (L, 0) in histories]
    if not pairs:
        return 'Dropout: no depth was trained both without and with dropout.'

    def change(L, p):
        (a, at_a), (b, at_b) = best_epoch(histories[L, 0])[:2], best_epoch(histories[L, p])[:2]
        of = f'the best validation perplexity of {run_label(L)}'
        if printed(a) == printed(b):
            return f'dropout {p:g} left {of} at {a:.2f} (epoch {at_a} without, {at_b} with)'
        verb = 'lowered' if printed(b) < printed(a) else 'raised'
        return f'dropout {p:g} {verb} {of} from {a:.2f} (epoch {at_a}) to {b:.2f} (epoch {at_b})'
    return 'Dropout: ' + listing(change(L, p) for L, p in pairs) + '.'


def unigram_sentence(histories, margin=0.05):
    """Which runs' best validation perplexity stayed near the unigram level."""
    unigram = next(iter(histories.values()))['unigram_ppl']
    best = {key: best_epoch(h)[0] for key, h in histories.items()}
    near = [key for key in histories if best[key] >= unigram * (1 - margin)]
    text = (f'Unigram: a model that knows only how frequent each character is scores '
            f'{unigram:.2f} on the validation text; ')
    if not near:
        worst = max(best, key=best.get)
        return text + (f'every run went more than {margin:.0%} below it (the highest best '
                       f'validation perplexity: {best[worst]:.2f}, {run_label(*worst)}).')
    return text + (listing(run_label(*key) for key in near) + f' never went more than '
                   f'{margin:.0%} below it (best ' + listing(f'{best[key]:.2f}' for key in near)
                   + '), learning little beyond character frequencies.')


def stopping_sentence(histories):
    """Where each run ended: stopped early by patience, or all its epochs (still improving?)."""
    def ended(key):
        h = histories[key]
        n, at = len(h['val_ppl']), best_epoch(h)[1]
        if h.get('stopped_early'):
            return f'{run_label(*key)} stopped early at epoch {n} (best {at})'
        still = ', the last: still improving' if at == n else ''
        return f'{run_label(*key)} ran all {n} epochs (best {at}{still})'
    return 'Stopping: ' + listing(ended(key) for key in histories) + '.'


def cost_sentence(histories, params):
    """Parameters, tokens/s and seconds to the best epoch of each run; fastest against slowest."""
    rates = {key: tokens_per_sec(h) for key, h in histories.items()}
    text = 'Cost: ' + listing(
        f'{rates[key]:,.0f} tokens/s for {run_label(*key)} ({params[key]:,} parameters, '
        f'{best_epoch(h)[2]:.1f} s to its best epoch)' for key, h in histories.items())
    fast, slow = max(rates, key=rates.get), min(rates, key=rates.get)
    if len(histories) == 1:
        return text + '.'
    if f'{rates[fast]:,.0f}' == f'{rates[slow]:,.0f}':
        return text + '; all at the same rate.'
    return text + (f'; the fastest, {run_label(*fast)}, made {rates[fast] / rates[slow]:.2f}x '
                   f'the tokens/s of the slowest, {run_label(*slow)}.')


def best_sentence(section, histories):
    """The lowest validation perplexity of the whole-book runs, against the section's run's."""
    best = {key: best_epoch(h)[:2] for key, h in histories.items()}
    low = min(printed(b) for b, _ in best.values())
    lowest = [key for key, (b, _) in best.items() if printed(b) == low]
    s_best, s_at, _ = best_epoch(section)
    change = printed(s_best) - low
    than = 'the same as'
    if abs(change) >= 0.005:
        than = f"{abs(change):.2f} {'below' if change > 0 else 'above'}"
    return (f'Best: among the whole-book runs the lowest validation perplexity is {low:.2f}, by '
            + listing(run_label(*key) for key in lowest) + ' (epoch'
            + ('s ' if len(lowest) > 1 else ' ') + listing(f'{best[key][1]}' for key in lowest)
            + f"): {than} the best of the section's run, {s_best:.2f} (epoch {s_at}).")
