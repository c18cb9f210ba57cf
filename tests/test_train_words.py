"""backprop train on a word list: the ninja's network trains, samples, and bad input is refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backprop import SGD, BatchNorm1d, CrossEntropyLoss
from backprop.cli import main
from backprop.train import fit
from backprop.words import VOCAB, census_first_names, examples, network, split_words

WORDS = [
    "emma",
    "olivia",
    "ava",
    "isabella",
    "sophia",
    "mia",
    "charlotte",
    "amelia",
    "harper",
    "evelyn",
    "abigail",
    "emily",
]


@pytest.fixture
def word_file(tmp_path: Path) -> Path:
    path = tmp_path / "names.txt"
    path.write_text("\n".join(census_first_names()[:150]) + "\n")
    return path


def test_network_is_the_ninjas() -> None:
    model = network(3, rng=np.random.default_rng(0))
    assert [type(layer).__name__ for layer in model] == [
        "Embedding", "Flatten", "Linear", "BatchNorm1d", "Tanh", "Linear",
    ]  # fmt: skip
    shapes = [p.shape for p in model.parameters()]
    assert shapes == [(27, 10), (30, 200), (200,), (200,), (200, 27), (27,)]
    X, _ = examples(["emma"], 3)
    assert model(X).shape == (5, 27)


def test_training_lowers_the_loss_below_uniform() -> None:
    words = census_first_names()[:800]
    X, y = examples(words, 3)
    rng = np.random.default_rng(0)
    model = network(3, hidden=64, rng=rng)
    history = fit(
        model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y, epochs=3, rng=rng
    )
    assert history.train_loss[-1] < 0.85 * np.log(27)  # a uniform guess: log 27 = 3.30


def test_cli_trains_prints_seeded_samples(
    word_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--data", f"words:{word_file}", "--epochs", "2", "--samples", "4",
            "--hidden", "32", "--json"]  # fmt: skip
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert len(first["samples"]) == 4
    assert all(set(w) <= set(VOCAB[1:]) for w in first["samples"])
    assert first["epochs"] == 2 and first["test_loss"] < np.log(27)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["samples"] == first["samples"]


def test_cli_default_word_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--data", "words", "--epochs", "1", "--samples", "5"]) == 0
    out = capsys.readouterr().out
    assert "census first names: 4647 words" in out
    assert "samples (seed 0): " in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no words in the file"),
        (b"\0\1\2binary", "not a text file"),
        (b"anna\nzo\xc3\xab\n", "line 2: 'zoë' has 'ë'"),
        (b"emma\nemma\n", "bad.txt: need at least 2 different words"),
    ],
)
def test_bad_word_file_is_one_line_exit_1(
    tmp_path: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    assert main(["train", "--data", f"words:{path}"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "words", "--gif", "x.gif"], "--gif applies to tables"),
        (["--data", "words", "--kernels", "k.png"], "--kernels applies to tables"),
        (["--data", "words", "--model", "cnn"], "--model applies to tables"),
        (["--data", "words", "--activation", "relu"], "--activation applies to tables"),
        (["--data", "words", "--hidden", "10,10"], "give one size, not 10,10"),
        (["--data", "words", "--batch-size", "1"], "--batch-size 1: the word network's Batch"),
        (["--data", "words", "--optimizer", "adam", "--momentum", "0.5"], "--momentum applies"),
        (["--data", "iris", "--context", "4"], "--context applies to word lists"),
        (["--data", "words:"], "needs a path after the colon"),
    ],
)
def test_options_that_do_not_fit_are_bad_usage(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_more_samples_than_the_cap_are_refused_before_training(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["train", "--data", "words", "--samples", "1001"])
    assert exit.value.code == 2
    assert "argument --samples: must be <= 1000, got 1001" in capsys.readouterr().err


def test_saved_word_model_samples_the_same_words(
    word_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backprop.checkpoint import load_checkpoint
    from backprop.words import sample

    path = tmp_path / "words.npz"
    argv = ["train", "--data", f"words:{word_file}", "--epochs", "1", "--samples", "3",
            "--hidden", "16", "--save", str(path), "--json"]  # fmt: skip
    assert main(argv) == 0
    printed = json.loads(capsys.readouterr().out)["samples"]
    ckpt = load_checkpoint(path)
    assert ckpt.info["words"]["context"] == 3 and ckpt.epoch == 1
    assert sample(ckpt.model.eval(), 3, np.random.default_rng(0), count=3) == printed


def test_ninja_network_trains_as_in_torch_for_50_steps() -> None:
    """AdamW under a cosine schedule with clipped gradients, on the ninja's network in float64:
    the losses, every parameter and BatchNorm's running statistics follow PyTorch's."""
    import torch
    from torch_reference import assert_close

    from backprop import AdamW, clip_grad_norm_
    from backprop.interop import to_torch
    from backprop.optim.lr_scheduler import CosineAnnealingLR

    rng = np.random.default_rng(4)
    X, Y = examples(census_first_names()[:300], 3)
    model = network(3, hidden=32, rng=rng)
    tmodel = to_torch(model)
    opt, topt = AdamW(model.parameters(), lr=0.01), torch.optim.AdamW(tmodel.parameters(), lr=0.01)
    sched = CosineAnnealingLR(opt, T_max=30)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=30)
    loss_fn = CrossEntropyLoss()
    for step in range(50):
        batch = rng.choice(len(X), 32, replace=False)
        loss = loss_fn(model(X[batch]), Y[batch])
        opt.zero_grad()
        model.backward_params(loss_fn.backward())
        clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        tloss = torch.nn.functional.cross_entropy(
            tmodel(torch.from_numpy(X[batch])), torch.from_numpy(Y[batch])
        )
        topt.zero_grad()
        tloss.backward()
        torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 1.0)
        topt.step()
        tsched.step()
        assert_close(f"ninja loss at step {step}", loss, tloss.item(), rtol=1e-9)
    ours = model.state_dict()
    for key, value in tmodel.state_dict().items():
        ref = value.numpy()
        if key in ("2.weight", "5.weight"):  # Linear: (out, in) in PyTorch, (in, out) here
            ref = ref.T
        assert_close(f"ninja state {key} after 50 steps", ours[key], ref, rtol=1e-9)


def test_cli_writes_history_and_plot(word_file: Path, tmp_path: Path) -> None:
    plot, history = tmp_path / "words.png", tmp_path / "words.csv"
    argv = ["train", "--data", f"words:{word_file}", "--epochs", "2", "--hidden", "16",
            "--plot", str(plot), "--history", str(history)]  # fmt: skip
    assert main(argv) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = history.read_text().splitlines()
    assert lines[0] == "epoch,train_loss,test_loss,test_accuracy" and len(lines) == 3


def test_fit_joins_a_lone_last_row_to_the_batch_before_and_trains_as_pytorch() -> None:
    """65 examples in batches of 32: BatchNorm cannot normalise a batch of one row, so each
    epoch's batches are 32 and 33 rows, and the steps are PyTorch's on those same rows."""
    import torch
    from torch_reference import assert_close

    from backprop.interop import to_torch

    X, Y = examples(census_first_names()[:40], 3)
    X, Y = X[:65], Y[:65]
    model = network(3, hidden=16, rng=np.random.default_rng(2))
    tmodel = to_torch(model)
    opt = SGD(model.parameters(), lr=0.1)
    history = fit(
        model, CrossEntropyLoss(), opt, X, Y, epochs=2, batch_size=32, rng=np.random.default_rng(5)
    )
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    rng, expected = np.random.default_rng(5), []
    for _ in range(2):
        order = rng.permutation(65)
        for rows in (order[:32], order[32:]):
            loss = torch.nn.functional.cross_entropy(
                tmodel(torch.from_numpy(X[rows])), torch.from_numpy(Y[rows])
            )
            topt.zero_grad()
            loss.backward()
            topt.step()
            expected.append(loss.item())
    assert len(history.batch_losses) == 4  # not 6: no step on a batch of one row
    assert 0 < history.seconds[0] <= history.seconds[1] < 60  # wall time since the start
    assert_close("losses", np.array(history.batch_losses), np.array(expected), rtol=1e-9)
    batchnorm = model[3]
    assert isinstance(batchnorm, BatchNorm1d)
    assert_close("running mean", batchnorm.running_mean, tmodel[3].running_mean.numpy(), rtol=1e-9)


def test_batches_of_one_row_are_refused_before_any_step_with_batchnorm() -> None:
    X, Y = examples(WORDS, 3)
    model = network(3, hidden=8, rng=np.random.default_rng(0))
    before = [p.data.copy() for p in model.parameters()]
    with pytest.raises(ValueError, match="needs batches of 2 rows or more, got batch_size 1"):
        fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, Y, batch_size=1)
    assert all(np.array_equal(p.data, b) for p, b in zip(model.parameters(), before, strict=True))
    model.eval()  # with running statistics, evaluation mode takes any batch
    fit(model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X[:9], Y[:9], batch_size=1)


def test_repeated_words_are_kept_once_and_never_on_both_sides() -> None:
    words = ["ava", "emma", "ava", "mia", "emma", "ava", "zoe", "lily"]
    for seed in range(20):
        train, test = split_words(words, 0.4, seed)
        assert sorted(train + test) == ["ava", "emma", "lily", "mia", "zoe"]
        assert not set(train) & set(test)


def test_the_run_says_how_many_repeated_words_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = census_first_names()[:60]
    path = tmp_path / "names.txt"
    path.write_text("\n".join([*names, names[3], names[7], names[3]]) + "\n")
    assert main(["train", "--data", f"words:{path}", "--epochs", "1", "--samples", "0"]) == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert "names.txt: 54 words (" in first_line  # 60 different words, 6 held out
    assert "; 3 repeated words left out)" in first_line


def test_word_checkpoint_is_refused_by_resume_and_predict_with_the_reason(
    word_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, table = tmp_path / "words.npz", tmp_path / "rows.csv"
    table.write_text("a,b\n1,2\n")
    argv = ["train", "--data", f"words:{word_file}", "--epochs", "1", "--samples", "0",
            "--hidden", "8", "--save", str(path)]  # fmt: skip
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(path), "--epochs", "2"]) == 1
    assert "holds a word-list run" in capsys.readouterr().err
    assert main(["predict", "--model", str(path), "--data", str(table)]) == 1
    assert "holds a word-list model" in capsys.readouterr().err


def test_the_memory_estimate_covers_a_runs_peak(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """tracemalloc's peak of a whole word-list run (every NumPy array and Python object made
    after the imports) lies between a third of the estimate and the estimate."""
    import tracemalloc

    from backprop.cli.train_words import word_memory

    path = tmp_path / "names.txt"
    path.write_text("\n".join(census_first_names()[:400]) + "\n")
    argv = ["train", "--data", f"words:{path}", "--epochs", "1", "--samples", "0"]
    assert main([*argv, "--context", "2"]) == 0  # the imports, before measuring
    tracemalloc.start()
    try:
        assert main([*argv, "--context", "60"]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    capsys.readouterr()
    train, test = split_words(census_first_names()[:400], 0.1, 0)
    settings = {"context": 60, "hidden": [200], "dtype": "float32", "batch_size": 32}
    estimate = word_memory(settings, train, test)
    assert peak <= estimate <= 3 * peak, (peak, estimate)
