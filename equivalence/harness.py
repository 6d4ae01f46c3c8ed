"""The uniform proof interface every ``equivalence/<block>.py`` module implements.

A *case* is a tuple whose first item is the block's parameter object, followed by the
stimulus. Each block module provides:

* ``cases()`` -- Hypothesis strategy of random cases (widths, densities, saturation corners)
* ``corner_cases()`` -- a list of pinned cases (saturation, empty and all-ones trains)
* ``default_case()`` -- the case ``twinspike hdl verify`` runs
* ``run_reference(*case)``, ``run_cython(*case)`` -- comparable outputs

The MyHDL side is the block's own ``hw/<block>.py``: ``testbench(*case)``,
``parse_lines(p, lines)`` and ``run_bench(*case)``. ``levels.py`` says which sides each proof
level compares; this module holds what is generic: comparing outputs.
"""
from __future__ import annotations

import numpy as np


def assert_same(a, b, what: str = "outputs") -> None:
    """Recursive equality for arrays, tuples, lists, dicts and scalars, with a useful message."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{what}: keys {a.keys()} != {b}"
        for k in a:
            assert_same(a[k], b[k], f"{what}[{k!r}]")
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), f"{what}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{what}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=what)
    else:
        assert a == b, f"{what}: {a!r} != {b!r}"
