import functools
import hashlib
import http.server
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading

import pytest

from d2l_deep_rnn import UsageError, load_data_splits, load_data_text, load_data_time_machine
from d2l_deep_rnn import data
from d2l_deep_rnn.texts import read_code_points
from conftest import BENCH, REPO

CORPUS_CHARS = 170580  # after the book's preprocessing
TINY = ['--epochs', '1', '--num-hiddens', '8', '--batch-size', '4', '--num-steps', '5',
        '--max-tokens', '200', '--val-tokens', '100', '--quiet']


@pytest.fixture(scope='module')
def corpus_and_vocab(data_dir):
    return data.load_corpus_time_machine(-1, data_dir)


def test_vocabulary_has_28_tokens_with_unk(corpus_and_vocab):
    _, vocab = corpus_and_vocab
    assert len(vocab) == 28
    assert set(vocab.idx_to_token) == set('abcdefghijklmnopqrstuvwxyz ') | {'<unk>'}
    assert vocab['<unk>'] == vocab.unk and vocab['#'] == vocab.unk


def test_corpus_is_the_books_170580_characters(corpus_and_vocab, data_dir):
    corpus, vocab = corpus_and_vocab
    assert len(corpus) == CORPUS_CHARS
    assert ''.join(vocab.idx_to_token[i] for i in corpus[:29]) == 'the time machine by h g wells'
    lines = data.read_time_machine(data_dir)
    assert lines[0] == 'the time machine by h g wells'
    assert all(line == line.strip().lower() for line in lines)
    first, _ = data.load_corpus_time_machine(10000, data_dir)
    assert first == corpus[:10000]


def test_sequential_batches_shape_shift_and_continuity(data_dir):
    random.seed(3)
    train_iter, vocab = load_data_time_machine(4, 7, data_dir=data_dir)
    corpus = train_iter.corpus.tolist()
    batches = [(X.asnumpy(), Y.asnumpy()) for X, Y in train_iter]
    assert len(train_iter) == (10000 - 1) // 4 // 7 and len(batches) >= len(train_iter) - 1
    for X, Y in batches:
        assert X.shape == Y.shape == (4, 7) and X.dtype.kind == 'i'
        assert (X[:, 1:] == Y[:, :-1]).all()  # Y is X one step ahead
    # row r of a batch continues row r of the batch before, so state can carry over
    row_len = (len(corpus) - 1) // 4  # at most; the offset shortens it a little
    rows = [[int(t) for X, _ in batches for t in X[r]] for r in range(4)]
    offsets = [o for o in range(8) if rows[0] == corpus[o: o + len(rows[0])]]
    assert len(offsets) == 1
    o = offsets[0]
    row_len = ((len(corpus) - o - 1) // 4 * 4) // 4
    for r in range(4):
        assert rows[r] == corpus[o + r * row_len: o + r * row_len + len(rows[r])]


def test_sequential_offset_is_random_within_num_steps():
    corpus = list(range(1000))
    loader = data.SeqDataLoader(corpus, 2, 5)
    random.seed(0)
    firsts = {int(next(iter(loader))[0][0, 0]) for _ in range(200)}
    assert firsts == set(range(0, 6))  # offset drawn from 0..num_steps inclusive, as the book
    fixed = data.SeqDataLoader(corpus, 2, 5, random_offset=False)
    assert {int(next(iter(fixed))[0][0, 0]) for _ in range(20)} == {0}


def test_random_sampling_batches():
    corpus = list(range(1000))
    loader = data.SeqDataLoader(corpus, 3, 5, use_random_iter=True, rng=random.Random(1))
    starts = []
    for X, Y in loader:
        X, Y = X.asnumpy(), Y.asnumpy()
        assert X.shape == (3, 5)
        assert (Y == X + 1).all() and (X[:, 1:] == X[:, :-1] + 1).all()
        starts += list(X[:, 0])
    assert len(starts) == len(set(starts)) == len(loader) * 3
    offset = starts[0] % 5
    assert all(s % 5 == offset for s in starts)  # non-overlapping subsequences


def test_held_out_split_is_the_tail_and_disjoint(data_dir, corpus_and_vocab):
    corpus, _ = corpus_and_vocab
    train_iter, val_iter, vocab = load_data_splits(32, 35, data_dir=data_dir)
    assert train_iter.corpus.tolist() == corpus[:10000]
    assert val_iter.corpus.tolist() == corpus[-5000:]
    whole, val, _ = load_data_splits(32, 35, max_tokens=-1, val_tokens=5000, data_dir=data_dir)
    assert len(whole.corpus) == CORPUS_CHARS - 5000
    assert whole.corpus.tolist() + val.corpus.tolist() == corpus
    # validation reads the same batches every time
    assert [X.asnumpy().tolist() for X, _ in val_iter] == [X.asnumpy().tolist()
                                                        for X, _ in val_iter]
    assert data.unigram_perplexity(train_iter.corpus, val_iter.corpus, len(vocab)) == \
        pytest.approx(17.2, abs=0.1)


def test_too_few_tokens_for_a_batch_is_a_clear_error(data_dir):
    with pytest.raises(UsageError, match='too few for batches of 512 x 35'):
        load_data_time_machine(512, 35, data_dir=data_dir)
    with pytest.raises(UsageError, match='max_tokens=170000 exceeds the 165,580 training '
                                         'characters'):
        load_data_splits(32, 35, max_tokens=170000, val_tokens=5000, data_dir=data_dir)


def test_data_dir_argument_comes_before_the_environment(tmp_path, monkeypatch, corpus_path):
    first, second = tmp_path / 'a', tmp_path / 'b'
    first.mkdir(), second.mkdir()
    shutil.copy(corpus_path, first / data.FILENAME)
    monkeypatch.setenv(data.ENV_VAR, str(second))
    assert data.find_corpus(str(first), cache=str(tmp_path / 'cache')) == \
        str(first / data.FILENAME)
    monkeypatch.setenv(data.ENV_VAR, str(first))
    assert data.find_corpus(None, cache=str(tmp_path / 'cache')) == str(first / data.FILENAME)


def test_wrong_sha1_is_refused_with_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (tmp_path / data.FILENAME).write_text('the time machine, but not quite\n')
    with pytest.raises(data.CorpusError) as e:
        data.find_corpus(str(tmp_path), cache=str(tmp_path / 'cache'))
    message = str(e.value)
    assert str(tmp_path / data.FILENAME) in message and data.SHA1 in message
    assert '\n' not in message


@pytest.fixture
def http_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/'www'; yields its base URL."""
    www = tmp_path / 'www'
    www.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/', www
    server.shutdown()
    server.server_close()


def test_download_from_a_local_http_server(http_server, tmp_path, monkeypatch, corpus_path):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    url, www = http_server
    shutil.copy(corpus_path, www / data.FILENAME)
    cache = tmp_path / 'cache'
    path = data.find_corpus(None, url=url + data.FILENAME, cache=str(cache))
    assert path == str(cache / data.FILENAME)
    with open(path, 'rb') as f:
        assert hashlib.sha1(f.read()).hexdigest() == data.SHA1
    assert os.listdir(cache) == [data.FILENAME]  # no temporary file left behind
    # a second call uses the cache: the server no longer has the file
    os.remove(www / data.FILENAME)
    assert data.find_corpus(None, url=url + data.FILENAME, cache=str(cache)) == path


def test_damaged_download_is_refused_and_not_cached(http_server, tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    url, www = http_server
    (www / data.FILENAME).write_bytes(b'<html>a proxy error page</html>')
    cache = tmp_path / 'cache'
    with pytest.raises(data.CorpusError, match='has SHA-1 .* expected ' + data.SHA1):
        data.find_corpus(None, url=url + data.FILENAME, cache=str(cache))
    assert not (cache / data.FILENAME).exists()
    with pytest.raises(data.CorpusError, match='HTTP 404'):
        data.find_corpus(None, url=url + 'missing.txt', cache=str(cache))


def test_offline_download_says_where_to_put_the_file(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    with socket.socket() as s:  # a port with nothing listening: connection refused
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    with pytest.raises(data.CorpusError) as e:
        data.find_corpus(None, url=f'http://127.0.0.1:{port}/timemachine.txt',
                         cache=str(tmp_path / 'cache'))
    message = str(e.value)
    assert message.startswith(f'could not download http://127.0.0.1:{port}/timemachine.txt')
    assert 'data_dir=' in message and data.ENV_VAR in message and '\n' not in message


@pytest.mark.parametrize('content, words', [
    (b'', 'is empty; delete it or replace it with a good copy from'),
    (b'PK\x03\x04\x00\x00binary', 'is a binary file, not the Time Machine text'),
    (b'The Time Machine, by H. G. Wells, abridged\n', 'is not the Time Machine corpus (SHA-1'),
])
def test_bad_corpus_files_are_refused_in_one_line(tmp_path, monkeypatch, content, words):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (tmp_path / data.FILENAME).write_bytes(content)
    with pytest.raises(data.CorpusError) as e:
        load_data_time_machine(32, 35, data_dir=str(tmp_path))
    assert words in str(e.value) and str(tmp_path / data.FILENAME) in str(e.value)
    assert '\n' not in str(e.value)


def test_unreadable_corpus_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    (tmp_path / data.FILENAME).write_text('text')

    def no_permission(path, *args, **kwargs):  # root reads any file, so fake the denial
        raise PermissionError(13, 'Permission denied', path)

    monkeypatch.setattr(data, 'open', no_permission, raising=False)
    with pytest.raises(data.CorpusError, match=r'cannot read .*timemachine.txt '
                                               r'\(Permission denied\); put a readable copy'):
        data.find_corpus(str(tmp_path), cache=str(tmp_path / 'cache'))


def test_downloaded_corpus_gets_the_mode_of_open(http_server, tmp_path, monkeypatch,
                                                 corpus_path, umask, mode):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    url, www = http_server
    shutil.copy(corpus_path, www / data.FILENAME)
    path = data.find_corpus(None, url=url + data.FILENAME, cache=str(tmp_path / 'cache'))
    assert mode(path) == umask and os.listdir(tmp_path / 'cache') == [data.FILENAME]


@pytest.fixture
def good_fallbacks(tmp_path, monkeypatch, corpus_path):
    """A good corpus in $D2L_DEEP_RNN_DATA and in the cache: a named folder must not use them."""
    env, cache = tmp_path / 'env', tmp_path / 'cache'
    for folder in (env, cache):
        folder.mkdir()
        shutil.copy(corpus_path, folder / data.FILENAME)
    monkeypatch.setenv(data.ENV_VAR, str(env))
    return str(cache)


def named_folder_error(data_dir, cache):
    with pytest.raises(data.CorpusError) as e:
        data.find_corpus(data_dir, cache=cache)
    message = str(e.value)
    assert isinstance(e.value, UsageError) and '\n' not in message
    assert f'(from {data.URL}, SHA-1 {data.SHA1})' in message
    return message


@pytest.mark.parametrize('make, problem', [
    (lambda folder: None, 'no such folder; create it with timemachine.txt in it'),
    (lambda folder: folder.mkdir(), 'no timemachine.txt in it; put it there'),
    (lambda folder: folder.write_text('a file'),
     'not a folder; name the folder that holds timemachine.txt'),
], ids=['missing', 'no-file', 'a-file'])
def test_a_data_dir_without_the_corpus_is_refused(tmp_path, good_fallbacks, make, problem):
    folder = tmp_path / 'named'
    make(folder)
    message = named_folder_error(str(folder), good_fallbacks)
    assert message == (f'data folder {folder} (--data-dir, data_dir=): {problem} (from '
                       f'{data.URL}, SHA-1 {data.SHA1}), or leave --data-dir out to use '
                       f'${data.ENV_VAR} or the cache')
    with pytest.raises(data.CorpusError, match=re.escape(f'data folder {folder} (--data-dir')):
        load_data_splits(8, 10, data_dir=str(folder))


@pytest.mark.parametrize('make, problem', [
    (lambda folder: None, 'no such folder'),
    (lambda folder: folder.mkdir(), 'no timemachine.txt in it'),
], ids=['missing', 'no-file'])
def test_a_data_variable_without_the_corpus_is_refused(tmp_path, good_fallbacks, monkeypatch,
                                                       make, problem):
    folder = tmp_path / 'named'
    make(folder)
    monkeypatch.setenv(data.ENV_VAR, str(folder))
    message = named_folder_error(None, good_fallbacks)
    assert message.startswith(f'data folder {folder} (${data.ENV_VAR}): {problem};')
    assert message.endswith(f'or unset {data.ENV_VAR} to use the cache')


def test_only_without_a_named_folder_the_cache_is_used(good_fallbacks, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, '')  # empty: unset
    assert data.find_corpus(None, url='http://127.0.0.1:9/', cache=good_fallbacks) == \
        os.path.join(good_fallbacks, data.FILENAME)


def quick_command(name, tmp_path):
    """The command line of a quick run of the main job, sweep or the bench tool
    (bench/bench.py), writing under tmp_path."""
    if name == 'bench':
        return [sys.executable, os.path.join(BENCH, 'bench.py'), '--quick', '--no-torch',
                '--json', str(tmp_path / 'bench.json')]
    return [sys.executable, '-m', 'd2l_deep_rnn',
            *(['sweep', '--layers', '1'] if name == 'sweep' else []),
            *TINY, '--out', str(tmp_path / 'out')]


@pytest.mark.parametrize('name', ['main', 'sweep', 'bench'])
def test_a_wrong_data_dir_stops_the_command_with_one_line(tmp_path, corpus_path, name):
    missing = tmp_path / 'no' / 'such'
    env = {**os.environ, data.ENV_VAR: os.path.dirname(corpus_path),  # good, but not named
           'XDG_CACHE_HOME': str(tmp_path / 'cache')}
    result = subprocess.run([*quick_command(name, tmp_path), '--data-dir', str(missing)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f'error: data folder {missing} (--data-dir, data_dir=): no such folder; create it with '
        f'timemachine.txt in it (from {data.URL}, SHA-1 {data.SHA1}), or leave --data-dir '
        f'out to use ${data.ENV_VAR} or the cache']
    assert 'Traceback' not in result.stdout
    assert not (tmp_path / 'out' / 'summary.json').exists()
    assert not (tmp_path / 'bench.json').exists()
    assert not (tmp_path / 'cache' / 'd2l-deep-rnn').exists()  # no download either


def test_load_data_config_takes_a_configs_data_settings_whole(data_dir):
    """The commands' loader: a `Config`'s batch size, steps, sampling and split sizes."""
    from d2l_deep_rnn import Config
    from d2l_deep_rnn.data import load_data_config
    config = Config(batch_size=4, num_steps=7, use_random_iter=True, max_tokens=300,
                    val_tokens=200)
    train_iter, val_iter, vocab = load_data_config(config, data_dir)
    assert (len(train_iter.corpus), len(val_iter.corpus), len(vocab)) == (300, 200, 28)
    assert train_iter.use_random_iter and not val_iter.use_random_iter
    X, Y = next(iter(train_iter))
    assert X.shape == Y.shape == (4, 7)


def test_load_data_text_validates_on_the_first_texts_tail_and_trains_on_the_rest(
        data_dir, own_texts, corpus_and_vocab):
    """The exercise's set-up: the Time Machine first, two more texts after it. Validation is
    the same 5,000 characters as the section's; training is the rest of the book, then each
    text in order, all of them with -1; the record says which texts did what."""
    corpus, _ = corpus_and_vocab
    essay, code = own_texts
    train_iter, val_iter, vocab = load_data_text(['timemachine', essay, code], 32, 35,
                                                 max_tokens=-1, data_dir=data_dir)
    _, section_val, _ = load_data_splits(32, 35, data_dir=data_dir)
    assert val_iter.corpus.tolist() == section_val.corpus.tolist() == corpus[-5000:]
    sizes = [len(read_code_points(t)[0]) for t in (essay, code)]  # under the book's rules
    assert len(train_iter.corpus) == CORPUS_CHARS - 5000 + sum(sizes)
    text = ''.join(vocab.idx_to_token[i] for i in train_iter.corpus)
    assert text.startswith('the time machine by h g wells') and text.endswith('return x')
    assert len(vocab) == 28 and vocab.unk == 1  # the same letters and space as the book
    assert [(t['text'], t['characters']) for t in train_iter.texts] == [
        ('timemachine', CORPUS_CHARS - 5000), (essay, sizes[0]), (code, sizes[1])]
    assert [(t['text'], t['characters'], t['sha1']) for t in val_iter.texts] == [
        ('timemachine', 5000, data.SHA1)]
    # the default max_tokens of a Config (10,000) takes only the book's head: no other text
    short, _, _ = load_data_text(['timemachine', essay], 32, 35, max_tokens=10000,
                                 data_dir=data_dir)
    assert [t['text'] for t in short.texts] == ['timemachine']


def test_load_data_text_with_all_characters(own_texts):
    essay, code = own_texts
    train_iter, val_iter, vocab = load_data_text([essay, code], 8, 10, val_tokens=1000,
                                                 chars='all')
    with open(essay, encoding='utf-8') as f:
        held_out = f.read()[-1000:]
    assert ''.join(vocab.idx_to_token[i] for i in val_iter.corpus) == held_out
    assert {'\n', 'T', '7', '?', '(', 'ü'} <= set(vocab.idx_to_token)


@pytest.mark.parametrize('case', ['held-out', 'batch', 'max_tokens'])
def test_a_text_too_short_is_refused_naming_it(tmp_path, case):
    path = tmp_path / 'short.txt'
    path.write_text('a few words of text\n' * 30)  # 570 characters under the book's rules
    args, message = {
        'held-out': ((4, 5), f'val_tokens=5000 holds out all 570 characters of the first '
                             f'text, {path}; lower val_tokens (--val-tokens), or put a longer '
                             f'text first'),
        'batch': ((100, 5), f'the training text ({path}): 470 tokens are too few for batches '
                            f'of 100 x 5 (need at least 506); use a smaller batch_size or '
                            f'num_steps, or more tokens'),
        'max_tokens': ((4, 5), f'max_tokens=1000 exceeds the 470 training characters (the '
                               f'100 held out of {path} are not among them); lower it, or '
                               f'give -1 for all')}[case]
    val_tokens = 5000 if case == 'held-out' else 100
    with pytest.raises(UsageError) as e:
        load_data_text([str(path)], *args, val_tokens=val_tokens,
                       max_tokens=1000 if case == 'max_tokens' else -1)
    assert str(e.value) == message


def test_the_corpus_url_is_the_books():
    from d2l import mxnet as d2l
    assert data.URL == d2l.DATA_URL + 'timemachine.txt'
