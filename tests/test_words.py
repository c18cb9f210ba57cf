"""Word lists: reading them (and refusing bad ones), the examples, the split, sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backprop.data import DataError
from backprop.words import (
    VOCAB,
    census_first_names,
    examples,
    load_words,
    read_words,
    sample,
    split_words,
)


def test_emma_gives_the_five_examples_of_the_docstring() -> None:
    X, Y = examples(["emma"], context=3)
    decoded = [
        "".join(VOCAB[t] for t in row) + " → " + VOCAB[y] for row, y in zip(X, Y, strict=True)
    ]
    assert decoded == ["... → e", "..e → m", ".em → m", "emm → a", "mma → ."]
    assert X.dtype == np.int64 and Y.dtype == np.int64


def test_examples_count_one_per_character_and_word() -> None:
    words = ["ann", "bo", "christopher"]
    X, Y = examples(words, context=5)
    assert X.shape == (sum(len(w) + 1 for w in words), 5)
    assert list(Y).count(0) == len(words)


def test_census_first_names_from_the_names_package() -> None:
    words = census_first_names()
    assert len(words) == 5163
    assert words[:3] == ["mary", "patricia", "linda"]
    assert len(set(words)) == len(words)
    assert all(set(w) <= set(VOCAB[1:]) for w in words)
    assert load_words("words") == ("census first names", words)


def test_read_words_skips_blanks_strips_and_lowers(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text("\ufeffEmma\r\n\n  olivia \nAVA\n", encoding="utf-8")
    assert read_words(path) == ["emma", "olivia", "ava"]
    assert load_words(f"words:{path}") == ("w.txt", ["emma", "olivia", "ava"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no words in the file"),
        (b"\n \n", "no words in the file"),
        (b"\x89PNG\r\n\x1a\n\0\0\0", r"not a text file \(it holds NUL bytes\)"),
        (b"caf\xe9\n", r"not a text file \(not UTF-8\)"),
        (
            "emma\njosé\n".encode(),
            r"line 2: 'josé' has 'é'; a word list takes one word of letters a-z",
        ),
        (b"emma\n\nann marie\n", r"line 3: 'ann marie' has ' '"),
        (b"r2d2\n", r"line 1: 'r2d2' has '2'"),
    ],
)
def test_bad_word_files_are_one_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as e:
        read_words(path)
    assert str(e.value).startswith(str(path))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_words(tmp_path / "none.txt")
    with pytest.raises(DataError, match="is a directory"):
        read_words(tmp_path)
    with pytest.raises(DataError, match=r"is not 'words' or 'words:PATH\.txt'"):
        load_words("words:")


def test_split_holds_out_whole_words() -> None:
    words = [f"w{'a' * i}" for i in range(1, 21)]
    train, test = split_words(words, 0.25, seed=0)
    assert len(test) == 5 and len(train) == 15
    assert sorted(train + test) == sorted(words)
    assert split_words(words, 0.25, seed=0) == (train, test)
    assert split_words(words, 0.25, seed=1) != (train, test)
    with pytest.raises(DataError, match="at least 2 different words"):
        split_words(["solo"], 0.2, seed=0)


def test_sample_draws_from_the_softmax() -> None:
    # A model that always puts its mass on "a" after a dot-only context and on the end mark
    # after an "a": every sample is "a".
    def logits_of(window: np.ndarray) -> np.ndarray:
        out = np.full((1, 27), -50.0)
        out[0, 1 if window[0, -1] == 0 else 0] = 50.0
        return out

    assert sample(logits_of, 3, np.random.default_rng(0), count=4) == ["a"] * 4

    # a uniform model: samples are seeded, and stop at max_length
    def uniform(window: np.ndarray) -> np.ndarray:
        return np.zeros((1, 27))

    first = sample(uniform, 2, np.random.default_rng(5), count=20, max_length=4)
    assert first == sample(uniform, 2, np.random.default_rng(5), count=20, max_length=4)
    assert all(len(w) <= 4 for w in first) and len(set(first)) > 10
