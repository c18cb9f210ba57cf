"""A run, exported: its STATE as JSON, a backprop checkpoint (.npz), or a PyTorch script that
rebuilds the model with these weights."""

from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from ..checkpoint import save
from ..nn import Linear
from .runs import Run

TORCH_ACTIVATIONS = {"tanh": "Tanh", "relu": "ReLU", "sigmoid": "Sigmoid", "linear": "Identity"}
FORMATS = {
    "json": ("application/json", "json"),
    "npz": ("application/octet-stream", "npz"),
    "pytorch": ("text/x-python; charset=utf-8", "py"),
}


def export_json(run: Run) -> bytes:
    return json.dumps(run.state(), allow_nan=False).encode()


def export_npz(run: Run) -> bytes:
    """``backprop.save`` of the model with its optimizer state and the run's settings."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "run.npz")
        with run.lock:
            save(
                run.model,
                path,
                optimizer=run.optimizer,
                rng=run.rng,
                epoch=run.step_count,
                info={"playground": run.settings.to_json(), "step": run.step_count},
                history={"batch_losses": list(run.losses)},
            )
        with open(path, "rb") as f:
            return f.read()


def export_pytorch(run: Run) -> bytes:
    """A script that builds the same network in PyTorch (float64) and loads these weights.

    PyTorch's ``nn.Linear.weight`` is (out, in), the transpose of ours, so each matrix is written
    transposed. A diverged run's weights are written as they are: its inf and nan entries as the
    names ``inf`` and ``nan``, which the script defines (JSON's null would lose which was which,
    and the npz keeps them too).
    """
    s = run.settings
    lines = [
        f'"""The playground run {run.id} at step {run.step_count}, rebuilt in PyTorch.',
        "",
        f"Settings: {json.dumps({k: v for k, v in s.to_json().items() if k != 'csv'})}",
        '"""',
        "",
        "import torch",
        "from torch import nn",
        "",
        "model = nn.Sequential(",
    ]
    with run.lock:
        linears = [m for m in run.model if isinstance(m, Linear)]
        for k, lin in enumerate(linears):
            lines.append(
                f"    nn.Linear({lin.in_features}, {lin.out_features}, dtype=torch.float64),"
            )
            if k < len(linears) - 1:
                lines.append(f"    nn.{TORCH_ACTIVATIONS[s.activation]}(),")
        lines.append(")")
        if not all(np.isfinite(p.data).all() for p in run.model.parameters()):
            lines += [
                "# the run diverged: some weights are not finite",
                'nan, inf = float("nan"), float("inf")',
            ]
        lines.append("with torch.no_grad():")
        for k, lin in enumerate(linears):
            i = 2 * k  # the Linear's index in the Sequential
            assert lin.bias is not None
            # repr writes floats exactly, as JSON does, and nan/inf as the names defined above
            weight = repr(lin.weight.data.T.tolist())
            lines.append(
                f"    model[{i}].weight.copy_(torch.tensor({weight}, dtype=torch.float64))"
            )
            lines.append(
                f"    model[{i}].bias.copy_(torch.tensor({lin.bias.data.tolist()!r}, dtype=torch.float64))"
            )
    loss = "nn.MSELoss()" if s.loss == "mse" else "nn.CrossEntropyLoss()"
    lines += [
        f"loss_fn = {loss}",
        "",
        'if __name__ == "__main__":',
        "    print(model)",
        "    print(model(torch.tensor([[0.5, -0.5]], dtype=torch.float64)))",
        "",
    ]
    return "\n".join(lines).encode()


EXPORTERS = {"json": export_json, "npz": export_npz, "pytorch": export_pytorch}
