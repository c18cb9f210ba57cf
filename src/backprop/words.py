"""Words for a character-level language model: read a word list, turn it into (context, next
character) examples, build the network of "Becoming a backprop ninja", and sample new words
from a trained model.

The vocabulary is the 26 letters and ``.``, which marks both ends of a word: 27 tokens, with
``.`` as token 0. With a context of 3 characters, "emma" gives five examples::

    ...  → e      ..e → m      .em → m      emm → a      mma → .

A model maps a (N, context) array of token indices to (N, 27) logits for the next character.
Sampling starts from a context of dots and draws one character at a time from the softmax of
the logits until it draws the end mark.

The default word list is the U.S. Census Bureau's 1990 list of first names (5,163 distinct
names, public data) as shipped by the ``names`` package from PyPI
(``pip install 'backprop-by-hand[words]'``); nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .arrays import Array
from .data import DataError
from .nn import BatchNorm1d, Embedding, Flatten, Linear, Sequential, Tanh

VOCAB = ".abcdefghijklmnopqrstuvwxyz"
EMBEDDING_DIM = 10
HIDDEN = 200
END = 0  # the index of "."
CENSUS = "words"  # --data words: the default list


def census_first_names() -> list[str]:
    """The first names of the 1990 U.S. Census (female list, then male; lower case, each once),
    read from the data files the ``names`` package installs beside its code."""
    try:
        from importlib.resources import files

        package = files("names")
    except ModuleNotFoundError:
        raise DataError(
            "the default word list comes with the 'names' package, which is not installed: "
            "pip install 'backprop-by-hand[words]' (or give --data words:PATH.txt)"
        ) from None
    seen: dict[str, None] = {}
    for name in ("dist.female.first", "dist.male.first"):
        # each line: NAME  frequency  cumulative-frequency  rank
        for line in (package / name).read_text(encoding="ascii").splitlines():
            if line.strip():
                seen.setdefault(line.split()[0].lower(), None)
    return list(seen)


def read_words(path: str | os.PathLike[str]) -> list[str]:
    """The words of a text file, one per line: blank lines skipped, surrounding spaces removed,
    capitals lowered. A DataError names the file (and line) if it is missing, binary, not
    UTF-8, empty, or holds a word with anything but the letters a-z."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{name} is a directory, not a word list") from None
    except OSError as e:
        raise DataError(f"{name}: cannot read: {e.strerror or e}") from None
    if b"\0" in raw:
        raise DataError(f"{name}: not a text file (it holds NUL bytes); expected one word per line")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(
            f"{name}: not a text file (not UTF-8); expected one word per line"
        ) from None
    words = []
    for number, line in enumerate(text.splitlines(), start=1):
        word = line.strip().lower()
        if not word:
            continue
        bad = next((c for c in word if c not in VOCAB[1:]), None)
        if bad is not None:
            raise DataError(
                f"{name}: line {number}: {line.strip()!r} has {bad!r}; a word list takes one "
                "word of letters a-z per line"
            )
        words.append(word)
    if not words:
        raise DataError(f"{name}: no words in the file; expected one word per line")
    return words


def load_words(source: str) -> tuple[str, list[str]]:
    """(name, words) for ``--data words`` (the census first names) or ``--data words:PATH``."""
    if source == CENSUS:
        return "census first names", census_first_names()
    prefix, _, path = source.partition(":")
    if prefix != CENSUS or not path:
        raise DataError(f"{source!r} is not 'words' or 'words:PATH.txt'")
    return os.path.basename(path), read_words(path)


def is_words(source: str | None) -> bool:
    return source is not None and (source == CENSUS or source.startswith(CENSUS + ":"))


def encode(word: str) -> list[int]:
    return [VOCAB.index(c) for c in word]


def examples(words: list[str], context: int) -> tuple[Array, Array]:
    """X (N, context) int64, the ``context`` tokens before each character of each word and its
    end mark, and Y (N,) int64, that character: one example per character plus one per word."""
    if context < 1:
        raise ValueError(f"context must be >= 1, got {context}")
    xs: list[list[int]] = []
    ys: list[int] = []
    for word in words:
        window = [END] * context
        for token in [*encode(word), END]:
            xs.append(window)
            ys.append(token)
            window = [*window[1:], token]
    return np.array(xs, dtype=np.int64).reshape(-1, context), np.array(ys, dtype=np.int64)


def split_words(words: list[str], test_size: float, seed: int) -> tuple[list[str], list[str]]:
    """Train and test words, shuffled by ``np.random.default_rng(seed)``: the test words are
    held out whole, so no test example shares a word with training. A word listed more than
    once is kept once (its first time), so that it cannot land on both sides."""
    words = list(dict.fromkeys(words))
    if len(words) < 2:
        raise DataError(
            f"need at least 2 different words to hold some out for testing, got {len(words)}"
        )
    order = np.random.default_rng(seed).permutation(len(words))
    n_test = min(max(1, round(test_size * len(words))), len(words) - 1)
    return [words[i] for i in order[n_test:]], [words[i] for i in order[:n_test]]


def sample(
    logits_of: Callable[[Array], Array],
    context: int,
    rng: np.random.Generator,
    count: int = 10,
    max_length: int = 30,
) -> list[str]:
    """``count`` words drawn one character at a time from softmax(logits_of(window)), where
    ``logits_of`` maps a (1, context) window to (1, 27) logits (a model in evaluation mode);
    a word stops at the end mark or at ``max_length`` characters."""
    out = []
    for _ in range(count):
        window = [END] * context
        chars: list[str] = []
        while len(chars) < max_length:
            logits = np.asarray(logits_of(np.array([window], dtype=np.int64)), dtype=np.float64)
            p = np.exp(logits[0] - logits[0].max())
            token = int(rng.choice(len(VOCAB), p=p / p.sum()))
            if token == END:
                break
            chars.append(VOCAB[token])
            window = [*window[1:], token]
        out.append("".join(chars))
    return out


def network(
    context: int,
    *,
    embedding_dim: int = EMBEDDING_DIM,
    hidden: int = HIDDEN,
    rng: np.random.Generator | None = None,
    dtype: npt.DTypeLike = np.float64,
) -> Sequential:
    """The network of "Becoming a backprop ninja" (makemore part 4)::

        Embedding(27, 10) → Flatten → Linear(30, 200, bias=False) → BatchNorm1d(200) → Tanh
        → Linear(200, 27)

    for ``context`` = 3, ``embedding_dim`` = 10, ``hidden`` = 200: each of the context tokens
    becomes a vector of ``embedding_dim`` numbers, the vectors are laid side by side, and a
    hidden layer normalised by BatchNorm (hence no bias before it: BatchNorm's β does its job)
    gives the 27 logits of the next character. Weights are drawn from ``rng`` in layer order,
    with PyTorch's default initialisation.
    """
    rng = np.random.default_rng() if rng is None else rng
    return Sequential(
        Embedding(len(VOCAB), embedding_dim, rng=rng, dtype=dtype),
        Flatten(),
        Linear(context * embedding_dim, hidden, bias=False, rng=rng, dtype=dtype),
        BatchNorm1d(hidden, dtype=dtype),
        Tanh(),
        Linear(hidden, len(VOCAB), rng=rng, dtype=dtype),
    )
