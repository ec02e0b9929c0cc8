"""Any UTF-8 text read as characters: the book's preprocessing done on arrays equals the book's
per-line regular expression, 'all' keeps every character, a 100 MB text loads into one int32
array, and every bad file is refused in one line that names it."""
import os
import random
import re
import subprocess
import sys
import tracemalloc

import numpy as onp
import pytest

from d2l_deep_rnn import TextError, data, load_data_text
from conftest import BAD_TEXTS, bad_text
from d2l_deep_rnn.texts import book_chars, read_code_points, to_token_ids


def the_books_way(text):
    """The book's preprocessing as the book writes it: a line at a time, read in text mode."""
    lines = text.replace('\r\n', '\n').replace('\r', '\n').split('\n')
    return ''.join(re.sub('[^A-Za-z]+', ' ', line).strip().lower() for line in lines)


def test_book_chars_equals_the_books_regular_expression_on_tricky_text():
    """20,000 random strings of letters, runs of spaces, line ends of three systems, a BOM,
    tabs, digits, accents and CJK: the array version gives the book's characters exactly."""
    pieces = ['a', 'B', 'z', 'Z', ' ', '  ', '\n', '\r\n', '\r', ',', 'é', '日', '\t',
              '\ufeff', '\n\n', ' \n ', '.', '0']
    rng = random.Random(0)
    for _ in range(20000):
        text = ''.join(rng.choice(pieces) for _ in range(rng.randint(0, 30)))
        assert book_chars(text.encode()).tobytes().decode() == the_books_way(text), repr(text)


def test_the_time_machine_reads_as_the_books_lines_joined(corpus_path, data_dir):
    points, sha1 = read_code_points(corpus_path)
    assert ''.join(map(chr, points)) == ''.join(data.read_time_machine(data_dir))
    assert len(points) == 170580 and sha1 == data.SHA1


def test_a_file_read_in_pieces_is_read_whole(tmp_path, monkeypatch):
    """Pieces of a few bytes, cut at line ends: the same characters as one piece."""
    text = 'Über den Wolken, 3 Äpfel!\r\nZeile zwei\rdrei\n\n  vier ends\n' * 50
    path = tmp_path / 'a.txt'
    path.write_bytes(text.encode())
    whole = {c: read_code_points(str(path), c)[0].tolist() for c in ('book', 'all')}
    monkeypatch.setattr('d2l_deep_rnn.texts.PIECE', 7)
    for chars in ('book', 'all'):
        assert read_code_points(str(path), chars)[0].tolist() == whole[chars]
    assert ''.join(map(chr, whole['book'])) == the_books_way(text)
    assert ''.join(map(chr, whole['all'])) == text.replace('\r\n', '\n').replace('\r', '\n')


def test_all_keeps_every_character_and_drops_only_a_bom(tmp_path):
    path = tmp_path / 'code.py'
    path.write_bytes('\ufeffdef f(x):\r\n    return X + 1  # ✓\n'.encode())
    points, _ = read_code_points(str(path), 'all')
    assert ''.join(map(chr, points)) == 'def f(x):\n    return X + 1  # ✓\n'


def test_the_vocabulary_is_d2ls_sorted_with_unk_and_ids_map_in_place(tmp_path):
    """d2l 1.0.3's Vocab of the same characters: the same order, so the same ids."""
    from d2l import mxnet as d2l
    text = 'Hello, World!\n日本 42\n'
    arrays = [onp.array([ord(c) for c in text], dtype='int32')]
    vocab = to_token_ids(arrays)
    assert vocab.idx_to_token == d2l.Vocab(list(text)).idx_to_token
    assert vocab.idx_to_token[:4] == ['\n', ' ', '!', ',']
    assert ''.join(vocab.idx_to_token[i] for i in arrays[0]) == text


def write_big(path, size=100 * 10 ** 6):
    """A `size`-byte text of generated sentences (no book): 20,000 lines, repeated."""
    rng = random.Random(0)
    words = [''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(1, 9)))
             for _ in range(5000)]
    block = ''.join(' '.join(rng.choice(words) for _ in range(rng.randint(3, 15))).capitalize()
                    + rng.choice('.!?,;') + '\n' for _ in range(20000)).encode()
    with open(path, 'wb') as f:
        for _ in range(size // len(block)):
            f.write(block)
        f.write(block[:size % len(block)].rsplit(b'\n', 1)[0] + b'\n')
    return path


MEASURE = '''
import resource, sys, time
import d2l_deep_rnn
from d2l_deep_rnn import load_data_text
def high_water():  # kB
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])
before, start = high_water(), time.perf_counter()
train_iter, val_iter, vocab = load_data_text([sys.argv[1]], 32, 35, chars=sys.argv[2])
seconds = time.perf_counter() - start
print(len(train_iter.corpus) + len(val_iter.corpus), train_iter.corpus.dtype,
      (high_water() - before) * 1024, seconds, len(vocab))
'''


@pytest.fixture(scope='module')
def big_text(tmp_path_factory):
    return str(write_big(tmp_path_factory.mktemp('big') / 'big.txt'))


@pytest.mark.parametrize('chars', ['book', 'all'])
def test_a_100_mb_text_loads_into_4_bytes_a_character(big_text, chars):
    """In a process of its own: every character of 100 MB as one int32 array, and the memory
    that loading adds at most 6 bytes a character: the array's 4, and pieces of a few MB
    while reading (measured 4.5; the book's lists of tokens and ids took 19.9 on 10 MB)."""
    result = subprocess.run([sys.executable, '-c', MEASURE, big_text, chars],
                            capture_output=True, text=True, timeout=300, check=True)
    characters, dtype, added, seconds, vocab_size = result.stdout.split()
    characters, added = int(characters), int(added)
    assert characters > 96 * 10 ** 6 and dtype == 'int32'
    assert vocab_size == ('28' if chars == 'book' else '60')  # 26 x 2 letters, .!?,; \n ' '
    assert added / characters < 6.0, (added / characters, seconds)


def test_a_100_mb_text_trains_and_batches_copy_only_themselves(big_text):
    """Its first batches train a deep RNN, and a sequential pass allocates only each batch:
    NumPy reports every allocation to tracemalloc, and none holds the whole text."""
    import mxnet as mx
    from d2l_deep_rnn import DeepRNN, train
    train_iter, val_iter, vocab = load_data_text([big_text], 32, 35)
    assert len(train_iter) > 80000  # batches per epoch
    tracemalloc.start()
    batches = [(X, Y) for _, (X, Y) in zip(range(3), train_iter)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 ** 6  # the text is 400 MB of ids
    assert [X.shape for X, _ in batches] == [(32, 35)] * 3

    class FirstBatches:
        def __iter__(self):
            return iter(batches)

        def __len__(self):
            return len(batches)
    net = DeepRNN(len(vocab), 32, 2, 'gru')
    history = train(net, FirstBatches(), vocab, 1.0, 1, mx.cpu(), callbacks=[])
    assert 1 < history['train_ppl'][-1] < 28


@pytest.mark.parametrize('kind', BAD_TEXTS)
def test_a_bad_text_is_refused_in_one_line_naming_it(tmp_path, kind):
    path, message = bad_text(tmp_path, kind)
    with pytest.raises(TextError) as e:
        load_data_text([str(path)], 4, 5, chars='all' if kind == 'too many characters' else
                       'book')
    assert str(e.value) == message


def test_an_unreadable_file_is_refused_naming_it(tmp_path, monkeypatch):
    path = tmp_path / 'locked.txt'
    path.write_text('some text\n')

    def no_permission(name, *args, **kwargs):  # root reads any file, so fake the denial
        raise PermissionError(13, 'Permission denied', name)
    monkeypatch.setattr('d2l_deep_rnn.texts.open', no_permission, raising=False)
    with pytest.raises(TextError) as e:
        load_data_text([str(path)], 4, 5)
    assert str(e.value) == f'cannot read {path} (Permission denied); check the file, or ' \
                           f'leave it out'


def test_chars_all_reads_text_the_book_would_empty(tmp_path):
    path, _ = bad_text(tmp_path, 'no letters')
    path.write_text('1234 5678\n!?\n日本語\n' * 100, encoding='utf-8')
    train_iter, val_iter, vocab = load_data_text([str(path)], 4, 5, val_tokens=500,
                                                 chars='all')
    assert set(vocab.idx_to_token) == set('12345678 \n!?日本語') | {'<unk>'}
    assert os.path.getsize(path) > len(train_iter.corpus) + len(val_iter.corpus) == 1700
