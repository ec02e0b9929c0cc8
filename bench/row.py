"""A row of the bench in a fresh process of its own, as bench.py starts it:
`python bench/row.py [--d2l-first] KEY BATCHES.npz RESULT.json`.

What comes first matters: MXNet reads its thread settings once, when it loads. So this
script imports this checkout's d2l_deep_rnn before anything loads MXNet, as a user's
program does; with --d2l-first (row i) it imports the venv's d2l, hence mxnet, before the
package, as the notebooks do.
"""
import sys

import checkout  # noqa: F401  (first: this checkout's d2l_deep_rnn on sys.path)


def main(argv):
    """Import in the row's order, then run the row (rows.py); the exit status."""
    d2l_first = argv[:1] == ['--d2l-first']
    if d2l_first:
        from d2l import mxnet as d2l  # noqa: F401  (the notebooks' first line)
    mxnet_first = 'mxnet' in sys.modules
    import d2l_deep_rnn  # noqa: F401  (its thread settings, unless MXNet came first)
    import rows
    key, batches_path, result_path = argv[d2l_first:]
    rows.run(key, batches_path, result_path, mxnet_first)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
