"""The post's random draws, made independently of the library (for tests that check it)."""

from __future__ import annotations

import numpy as np


def posts_draws(dim: int = 4, samples: int = 1, seed: int = 0) -> tuple[np.ndarray, ...]:
    """The post's weights, bias and inputs, drawn as the post's program draws them."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        W = np.random.normal(size=(dim, dim))
        b = np.random.normal(size=(dim,))
        x = np.random.normal(size=(samples, dim))
    finally:
        np.random.set_state(state)
    return W, b, x
