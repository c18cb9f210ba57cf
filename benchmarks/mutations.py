"""The planted bugs of ``make mutate``: realistic mistakes in hand-written backprop code.

Each is an exact snippet of the source and its replacement (the snippet must occur exactly once
in the file), the tests expected to catch it, and one line on what the bug does. ``quick`` marks
the few that ``make mutate-quick`` (run by ``.ci/run``) plants.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str  # relative to the repository's root
    old: str
    new: str
    tests: tuple[str, ...]
    what: str
    quick: bool = False


NN = "src/backprop/nn/"
LAYERS = ("tests/test_layers.py", "tests/test_gradcheck.py")
LOSSES = ("tests/test_losses.py",)
OPTIM = ("tests/test_optim.py", "tests/test_dtypes.py")
GRADCHECK = ("tests/test_gradcheck.py", "tests/test_layers.py", "tests/test_losses.py")
CHECKPOINT = ("tests/test_checkpoint.py",)
TRAIN = ("tests/test_train.py",)
SLP = ("tests/test_slp.py",)

MUTATIONS: list[Mutation] = [
    # ------------------------------------------------------------------ nn/linear.py: Linear
    Mutation(
        "linear-dW-scaled-1e-4",
        NN + "linear.py",
        "np.matmul(x.T, grad_output, out=W._grad)",
        "np.matmul(1e-4 * x.T, grad_output, out=W._grad)",
        LAYERS,
        "dL/dW = 1e-4 · xᵀ · dL/dy",
        quick=True,
    ),
    Mutation(
        "linear-dW-accumulate-overwrites",
        NN + "linear.py",
        "W._grad += x.T @ grad_output",
        "W._grad[...] = x.T @ grad_output",
        LAYERS,
        "a second backward replaces dL/dW instead of adding to it",
    ),
    Mutation(
        "linear-db-dropped",
        NN + "linear.py",
        "np.add.reduce(grad_output, axis=0, out=b._grad)",
        "b._grad.fill(0)",
        LAYERS,
        "dL/db left at zero",
    ),
    Mutation(
        "linear-db-averaged",
        NN + "linear.py",
        "np.add.reduce(grad_output, axis=0, out=b._grad)",
        "np.mean(grad_output, axis=0, out=b._grad)",
        LAYERS,
        "dL/db = mean over the batch instead of the sum",
        quick=True,
    ),
    Mutation(
        "linear-dx-averaged",
        NN + "linear.py",
        "return grad_output @ self.weight.data.T",
        "return grad_output @ self.weight.data.T / len(grad_output)",
        LAYERS,
        "dL/dx divided by N",
    ),
    Mutation(
        "linear-forward-no-bias",
        NN + "linear.py",
        "y += self.bias.data",
        "y += 0 * self.bias.data",
        LAYERS,
        "the forward pass forgets b",
    ),
    Mutation(
        "linear-init-bound-1-over-in",
        NN + "linear.py",
        "bound = 1.0 / np.sqrt(in_features)",
        "bound = 1.0 / in_features",
        LAYERS,
        "initialised in ±1/in instead of PyTorch's ±1/√in",
    ),
    Mutation(
        "linear-no-dtype-cast",
        NN + "linear.py",
        "x = x.astype(self.weight.data.dtype)",
        "pass",
        LAYERS,
        "a float32 layer computes in the input's float64",
    ),
    # ------------------------------------------------------------- nn/activation.py
    Mutation(
        "relu-mask-ge-0",
        NN + "activation.py",
        "return y > 0",
        "return y >= 0",
        LAYERS,
        "ReLU passes the gradient where the input was negative",
    ),
    Mutation(
        "relu-backward-in-place",
        NN + "activation.py",
        "return grad_output * self._mask()",
        "return np.multiply(grad_output, self._mask(), out=grad_output)",
        LAYERS,
        "ReLU zeroes the caller's gradient array in place",
    ),
    Mutation(
        "sigmoid-zero-when-saturated",
        NN + "activation.py",
        "return grad_output * y * (1 - y)",
        "return grad_output * np.where(np.abs(y - 0.5) > 0.5 - 1e-6, 0.0, y * (1 - y))",
        LAYERS,
        "Sigmoid's gradient flushed to 0 once σ is within 1e-6 of 0 or 1",
        quick=True,
    ),
    Mutation(
        "sigmoid-negative-branch-1-minus",
        NN + "activation.py",
        "np.where(x >= 0, y, e * y)",
        "np.where(x >= 0, y, 1 - y)",
        LAYERS,
        "σ(x) for x < 0 as 1 − σ(|x|): same maths, loses all digits below 1e-16",
    ),
    Mutation(
        "sigmoid-backward-forgets-y",
        NN + "activation.py",
        "return grad_output * y * (1 - y)",
        "return grad_output * (1 - y)",
        LAYERS,
        "σ′ = 1 − σ instead of σ(1 − σ)",
    ),
    Mutation(
        "tanh-backward-1-minus-y",
        NN + "activation.py",
        "return grad_output * (1 - y * y)",
        "return grad_output * (1 - y)",
        LAYERS,
        "tanh′ = 1 − y instead of 1 − y²",
    ),
    # -------------------------------------------------------------- nn/container.py, module.py
    Mutation(
        "sequential-backward-not-reversed",
        NN + "container.py",
        "for layer in reversed(layers):",
        "for layer in layers:",
        LAYERS,
        "the chain rule runs front to back",
    ),
    Mutation(
        "sequential-owned-gradient-always",
        NN + "container.py",
        "if grad_output is caller:",
        "if False:",
        LAYERS,
        "layers may overwrite the caller's dL/dy",
    ),
    Mutation(
        "sequential-parameters-skip-last",
        NN + "container.py",
        "return [p for layer in self.layers for p in layer.parameters()]",
        "return [p for layer in self.layers[:-1] for p in layer.parameters()]",
        (*LAYERS, *OPTIM),
        "the last layer's parameters are never trained",
    ),
    Mutation(
        "sequential-no-input-check",
        NN + "container.py",
        "if not math.isfinite(np.add.reduce(x, axis=None)):",
        "if False:",
        LAYERS,
        "a NaN or inf in the input goes through unnamed",
    ),
    Mutation(
        "parameter-zero-grad-not-cleared",
        NN + "module.py",
        "self._grad.fill(0)",
        "pass",
        LAYERS,
        "zero_grad() then reading .grad gives the old gradient",
    ),
    Mutation(
        "parameter-accumulate-overwrites",
        NN + "module.py",
        "self._grad += value",
        "self._grad[...] = value",
        ("tests/test_layers.py", "tests/test_optim.py"),
        "Parameter.accumulate replaces instead of adding",
    ),
    # ------------------------------------------------------------------------- losses.py
    Mutation(
        "ce-grad-without-div-n",
        "src/backprop/losses.py",
        "grad /= n",
        "pass",
        LOSSES,
        "cross-entropy's dL/dZ without / N",
        quick=True,
    ),
    Mutation(
        "ce-loss-sum-not-mean",
        "src/backprop/losses.py",
        "loss = float(np.add.reduce(nll) / n)",
        "loss = float(np.add.reduce(nll))",
        LOSSES,
        "cross-entropy summed over the batch",
    ),
    Mutation(
        "ce-no-max-shift",
        "src/backprop/losses.py",
        "shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)",
        "shifted = logits - 0.0",
        LOSSES,
        "log-sum-exp without subtracting the max: e^1000 overflows",
    ),
    Mutation(
        "ce-grad-wrong-class",
        "src/backprop/losses.py",
        "grad[self._rows(n), labels] -= 1",
        "grad[self._rows(n), (labels + 1) % grad.shape[1]] -= 1",
        LOSSES,
        "the one-hot is taken at the next class",
    ),
    Mutation(
        "mse-batchmean-grad-without-2",
        "src/backprop/losses.py",
        "scale = 2 / len(diff)",
        "scale = 1 / len(diff)",
        LOSSES,
        "MSE (batchmean) gradient without the 2 of the square",
    ),
    Mutation(
        "mse-mean-grad-over-n",
        "src/backprop/losses.py",
        "scale = 2 / diff.size",
        "scale = 2 / len(diff)",
        LOSSES,
        "MSE (mean) gradient divided by N instead of N·D",
    ),
    Mutation(
        "mse-mean-loss-over-n",
        "src/backprop/losses.py",
        "loss = float(np.add.reduce(sq, axis=None) / sq.size)",
        "loss = float(np.add.reduce(sq, axis=None) / len(sq))",
        LOSSES,
        "MSE (mean) loss divided by N instead of N·D",
    ),
    # -------------------------------------------------------------------------- optim.py
    Mutation(
        "adam-bias-correction1-off-by-one",
        "src/backprop/optim.py",
        "step_size = self.lr / (1 - beta1**self.t)",
        "step_size = self.lr / (1 - beta1 ** (self.t + 1))",
        OPTIM,
        "Adam's first-moment correction uses t + 1",
        quick=True,
    ),
    Mutation(
        "adam-bias-correction2-off-by-one",
        "src/backprop/optim.py",
        "bias_correction2_sqrt = math.sqrt(1 - beta2**self.t)",
        "bias_correction2_sqrt = math.sqrt(1 - beta2 ** (self.t + 1))",
        OPTIM,
        "Adam's second-moment correction uses t + 1",
    ),
    Mutation(
        "adam-eps-before-correction",
        "src/backprop/optim.py",
        "denom /= bias_correction2_sqrt\n                denom += self.eps",
        "denom += self.eps\n                denom /= bias_correction2_sqrt",
        OPTIM,
        "ε added before the bias correction instead of after (PyTorch's place)",
    ),
    Mutation(
        "adam-weight-decay-ignored",
        "src/backprop/optim.py",
        "g_all = g_all + self.weight_decay * p.data",
        "g_all = g_all + 0 * p.data",
        OPTIM,
        "Adam ignores weight_decay",
    ),
    Mutation(
        "sgd-momentum-dampened",
        "src/backprop/optim.py",
        "buf += g",
        "buf += (1 - mu) * g",
        OPTIM,
        "momentum with dampening 1 − μ (PyTorch's default is none)",
    ),
    Mutation(
        "sgd-weight-decay-sign",
        "src/backprop/optim.py",
        "g = g + wd * p.data",
        "g = g - wd * p.data",
        OPTIM,
        "weight decay pushes the weights outwards",
    ),
    Mutation(
        "optim-blocks-drop-last-entry",
        "src/backprop/optim.py",
        "f[i : i + BLOCK]",
        "f[i : i + BLOCK - 1]",
        OPTIM,
        "the blocked update of a large weight skips one entry per block",
    ),
    # ---------------------------------------------------------------------- gradcheck.py
    Mutation(
        "gradcheck-no-float64-copy",
        "src/backprop/gradcheck.py",
        "p.data = p.data.astype(np.float64)",
        "pass",
        GRADCHECK,
        "gradcheck runs a float32 model in float32",
        quick=True,
    ),
    Mutation(
        "gradcheck-no-deepcopy",
        "src/backprop/gradcheck.py",
        "module = copy.deepcopy(module)",
        "pass",
        GRADCHECK,
        "gradcheck converts and overwrites the caller's model",
    ),
    Mutation(
        "gradcheck-input-not-float64",
        "src/backprop/gradcheck.py",
        "x = np.array(x, dtype=np.float64)",
        "x = np.array(x)",
        GRADCHECK,
        "gradcheck differentiates float32 inputs in float32",
    ),
    Mutation(
        "gradcheck-differences-without-2",
        "src/backprop/gradcheck.py",
        "gflat[i] = (plus - minus) / (2 * h)",
        "gflat[i] = (plus - minus) / h",
        GRADCHECK,
        "central differences divided by h instead of 2h",
    ),
    Mutation(
        "gradcheck-passes-if-any-row-passes",
        "src/backprop/gradcheck.py",
        "return all(r.passed(self.threshold) for r in self.rows)",
        "return any(r.passed(self.threshold) for r in self.rows)",
        GRADCHECK,
        "one correct gradient makes the report pass",
    ),
    # --------------------------------------------------------------------- checkpoint.py
    Mutation(
        "resume-skips-optimizer-state",
        "src/backprop/checkpoint.py",
        "    opt.load_state_dict(state)\n",
        "",
        CHECKPOINT,
        "a resumed run starts the optimizer afresh (no momentum, Adam at t = 0)",
        quick=True,
    ),
    Mutation(
        "resume-skips-rng-state",
        "src/backprop/checkpoint.py",
        "bit_generator.state = state",
        "pass",
        CHECKPOINT,
        "a resumed run shuffles from a fresh generator",
    ),
    Mutation(
        "checkpoint-scaler-std-is-mean",
        "src/backprop/checkpoint.py",
        'arrays[f"{prefix}.mean"], arrays[f"{prefix}.std"] = s.mean, s.std',
        'arrays[f"{prefix}.mean"], arrays[f"{prefix}.std"] = s.mean, np.abs(s.mean) + 1',
        CHECKPOINT,
        "the scaler's std is saved wrong",
    ),
    Mutation(
        "checkpoint-history-dropped",
        "src/backprop/checkpoint.py",
        "history[key] = value.tolist()",
        "pass",
        CHECKPOINT,
        "a resumed run forgets the losses of the epochs before",
    ),
    Mutation(
        "checkpoint-temp-file-left",
        "src/backprop/checkpoint.py",
        "Path(tmp).unlink(missing_ok=True)",
        "pass",
        CHECKPOINT,
        "a failed save leaves its temporary file behind",
    ),
    # -------------------------------------------------------------------------- train.py
    Mutation(
        "fit-last-batch-dropped",
        "src/backprop/train.py",
        "steps_per_epoch = math.ceil(n / batch_size)",
        "steps_per_epoch = n // batch_size",
        TRAIN,
        "the last, smaller batch of every epoch is skipped",
    ),
    Mutation(
        "fit-no-shuffle",
        "src/backprop/train.py",
        "X_epoch, t_epoch = X[order], targets[order]",
        "X_epoch, t_epoch = X, targets",
        TRAIN,
        "the permutation is drawn but not applied",
    ),
    Mutation(
        "fit-no-zero-grad",
        "src/backprop/train.py",
        "                optimizer.zero_grad()\n",
        "",
        TRAIN,
        "gradients accumulate across batches",
    ),
    Mutation(
        "fit-train-loss-unweighted",
        "src/backprop/train.py",
        "sizes[-1] = n - batch_size * (steps_per_epoch - 1)",
        "pass",
        TRAIN,
        "the epoch's loss weighs the short last batch as a full one",
    ),
    Mutation(
        "fit-resume-restarts-epochs",
        "src/backprop/train.py",
        "for epoch in range(history.epochs + 1, epochs + 1):",
        "for epoch in range(1, epochs + 1):",
        (*TRAIN, *CHECKPOINT),
        "a resumed run trains every epoch again",
    ),
    Mutation(
        "r2-without-mean",
        "src/backprop/train.py",
        "ss_tot = np.sum((target - target.mean(axis=0)) ** 2, axis=0)",
        "ss_tot = np.sum(target**2, axis=0)",
        TRAIN,
        "R² against 0 instead of the target's mean",
    ),
    # ---------------------------------------------------------------------------- slp.py
    Mutation(
        "slp-ignores-lr",
        "src/backprop/slp.py",
        "optimizer = SGD(layer.parameters(), lr=lr)",
        "optimizer = SGD(layer.parameters(), lr=0.001)",
        SLP,
        "the experiment always uses the post's lr 0.001",
        quick=True,
    ),
    Mutation(
        "slp-cli-ignores-lr",
        "src/backprop/cli/slp.py",
        "args.dim, args.samples, args.lr, args.epochs, args.seed, record=bool(args.gif)",
        'args.dim, args.samples, POST["lr"], args.epochs, args.seed, record=bool(args.gif)',
        SLP,
        "`backprop slp --lr` is parsed but not used",
    ),
    Mutation(
        "slp-records-grad-alias",
        "src/backprop/slp.py",
        "[W.grad.copy(), b.grad.copy()]",
        "[W.grad, b.grad.copy()]",
        SLP,
        "every recorded dL/dW is the same buffer (the last step's)",
    ),
    Mutation(
        "slp-draw-order",
        "src/backprop/slp.py",
        "    weights = np.random.normal(size=(dim, dim))\n"
        "    bias = np.random.normal(size=(dim,))\n",
        "    bias = np.random.normal(size=(dim,))\n"
        "    weights = np.random.normal(size=(dim, dim))\n",
        SLP,
        "the bias is drawn before the weights (not the post's network)",
    ),
]
