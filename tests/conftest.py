"""Shared helpers for the tests: seeded random models within the ranges the
package promises to handle."""
import numpy as np
import pytest

import asymptotics as asy


def random_label_model(rng: np.random.Generator) -> asy.LabelGMM:
    """pi log-uniform in [0.005, 0.5]; rank-1 (collinear, either orientation)
    or rank-2 means with norms log-uniform in [0.3, 10]."""
    pi = float(np.exp(rng.uniform(np.log(0.005), np.log(0.5))))
    n1, n2 = np.exp(rng.uniform(np.log(0.3), np.log(10.0), 2))
    if rng.integers(2):
        return asy.LabelGMM(pi, [n1], [-n2 * rng.choice([1.0, -1.0])])
    angle = rng.uniform(0.0, np.pi)
    return asy.LabelGMM(pi, [n1, 0.0], [n2 * np.cos(angle), n2 * np.sin(angle)])


def rel_err(a, b) -> float:
    a, b = float(a), float(b)
    if a == b:
        return 0.0
    return abs(a - b) / abs(b)


@pytest.fixture
def rng():
    return np.random.default_rng(20261129)
