"""Any UTF-8 text as the section's character tokens, in one NumPy array read in pieces of whole
lines: `chars='book'` is the book's preprocessing, `chars='all'` keeps every character, and the
vocabulary is d2l's (docs/own-text.md, "Characters" and "Size").
"""
import hashlib
import os
import stat

import numpy as onp

from .config import UsageError

UNK = '<unk>'
MAX_VOCAB = 10000  # more distinct characters than this is no text a character model learns
PIECE = 1 << 22  # bytes read at a time (then on to the end of the line)
CODE_POINTS = 0x110000  # every Unicode character is below this


class TextError(UsageError):
    """A text file that cannot be read as characters: missing, not UTF-8, empty, too varied."""


# letters lowercase, line ends \n, any other byte a space (a non-ASCII character: a run of them)
BOOK_TABLE = bytes(c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 else 10 if c in b'\n\r'
                   else 32 for c in range(256))


def book_chars(raw):
    """The book's preprocessing of whole lines of UTF-8 bytes, on arrays: uint8 ASCII codes of
    `''.join(re.sub('[^A-Za-z]+', ' ', line).strip().lower() for line in lines)`."""
    b = onp.frombuffer(raw.translate(BOOK_TABLE), dtype='uint8')
    space = b == 32
    b = b[~(space & onp.r_[False, space[:-1]])]  # each run of non-letters: one space
    end = onp.r_[True, b == 10, True]  # a line end, or before the start or after the end
    drop = end[1:-1] | ((b == 32) & (end[:-2] | end[2:]))  # line ends, spaces beside them
    return b[~drop]


def pieces(f):
    """The bytes of file `f` in pieces of whole lines (a UTF-8 character never spans two)."""
    while True:
        raw = f.read(PIECE)
        if not raw:
            return
        yield raw + f.readline()


def read_code_points(path, chars='book'):
    """The code points (int32, (n,)) of UTF-8 file `path` under `chars`, and the file's SHA-1."""
    check_file(path)
    points = onp.empty(os.path.getsize(path), dtype='int32')  # no more characters than bytes
    n, offset, sha1 = 0, 0, hashlib.sha1()
    try:
        with open(path, 'rb') as f:
            for raw in pieces(f):
                sha1.update(raw)
                text = decode(raw, path, offset)
                if chars == 'book':
                    piece = book_chars(raw)
                else:
                    text = text.replace('\r\n', '\n').replace('\r', '\n')  # as text mode
                    piece = onp.frombuffer(text.encode('utf-32-le'), dtype='<u4')
                points[n: n + len(piece)] = piece
                n, offset = n + len(piece), offset + len(raw)
    except OSError as e:
        raise TextError(f'cannot read {path} ({e.strerror}); check the file, or leave it '
                        f'out') from None
    if n == 0:
        raise TextError(f'{path} has no letters a-z, so the book\'s preprocessing leaves '
                        f'nothing to train on; use chars=\'all\' (--chars all) or another file'
                        if offset else f'{path} is empty; give a text with something in it')
    return points[:n], sha1.hexdigest()


def check_file(path):
    """Refuse, naming `path`, what is not a regular file: missing, a folder, a device."""
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise TextError(f'{path}: {e.strerror.lower()}; check the path') from None
    if stat.S_ISDIR(mode):
        raise TextError(f'{path} is a folder; name the text files in it, such as '
                        f'{os.path.join(path, "*.txt")}')
    if not stat.S_ISREG(mode):
        raise TextError(f'{path} is not a regular file; give a text file')


def decode(raw, path, offset):
    """`raw` (at byte `offset` of `path`) as text; TextError if it is not UTF-8 or binary."""
    try:
        text = raw.decode('utf-8-sig' if offset == 0 else 'utf-8')  # a leading BOM is no text
    except UnicodeDecodeError as e:
        raise TextError(f'{path} is not UTF-8 text (byte 0x{raw[e.start]:02x} at offset '
                        f'{offset + e.start:,}); convert it to UTF-8, or leave it out') from None
    if '\0' in text:
        raise TextError(f'{path} holds NUL characters, so it is a binary file, not text; '
                        f'leave it out')
    return text


def characters_in(points):
    """The distinct code points of an int32 array, sorted (a bool per Unicode character)."""
    seen = onp.zeros(CODE_POINTS, dtype=bool)
    for i in range(0, len(points), PIECE):
        seen[points[i: i + PIECE]] = True
    return onp.flatnonzero(seen)


def check_vocab_size(count, what):
    """Refuse more distinct characters than `MAX_VOCAB` (a binary file read as text)."""
    if count > MAX_VOCAB:
        raise TextError(f'{what} has {count:,} distinct characters, more than the {MAX_VOCAB:,} '
                        f'a character model can learn here; is it text? leave it out')


def vocab_from_tokens(idx_to_token):
    """A `d2l.Vocab` with exactly these tokens in this order (as saved in a checkpoint)."""
    from d2l import mxnet as d2l  # here, not at import: d2l costs a command 0.6 s to start
    vocab = d2l.Vocab()
    vocab.idx_to_token = list(idx_to_token)
    vocab.token_to_idx = {token: idx for idx, token in enumerate(vocab.idx_to_token)}
    return vocab


def to_token_ids(arrays, names=None):
    """Code points -> token ids, in place; returns d2l's vocab of all the characters in `arrays`."""
    each = [characters_in(a) for a in arrays]
    for present, name in zip(each, names or ['the text'] * len(arrays)):
        check_vocab_size(len(present), name)
    present = characters_in(onp.concatenate(each))
    check_vocab_size(len(present), 'the texts together')
    tokens = sorted([chr(p) for p in present] + [UNK])
    vocab = vocab_from_tokens(tokens)
    table = onp.zeros(CODE_POINTS, dtype='int32')
    table[present] = [vocab.token_to_idx[chr(p)] for p in present]
    for a in arrays:
        for i in range(0, len(a), PIECE):
            a[i: i + PIECE] = table[a[i: i + PIECE]]
    return vocab
