"""Integer helpers and parameter validation shared by every block's reference.

These are the words of the contract in ``docs/architecture.md``: two's-complement integers
of declared width, saturating arithmetic, and parameter checks that raise a ``ValueError``
naming the parameter object, the field and the legal range.
"""
from __future__ import annotations

import numpy as np


def signed_min(bits: int) -> int:
    return -(1 << (bits - 1))


def signed_max(bits: int) -> int:
    return (1 << (bits - 1)) - 1


def saturate(value: int, bits: int) -> int:
    """Clamp ``value`` into the ``bits``-wide two's-complement range (no wrap)."""
    lo, hi = signed_min(bits), signed_max(bits)
    return lo if value < lo else hi if value > hi else value


def saturate_array(values: np.ndarray, bits: int) -> np.ndarray:
    return np.clip(values, signed_min(bits), signed_max(bits))


def check_range(owner: str, field: str, value, lo: int, hi: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``lo..hi`` (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}.{field} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{owner}.{field}={value} is out of range: expected {lo}..{hi}")


def check_signed_fits(owner: str, field: str, value, bits: int) -> None:
    check_range(owner, field, value, signed_min(bits), signed_max(bits))


def check_array_range(owner: str, field: str, values, lo: int, hi: int) -> np.ndarray:
    """Validate an integer array elementwise; returns it as int64."""
    arr = np.asarray(values)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{owner}.{field} must hold integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = arr[(arr < lo) | (arr > hi)].flat[0]
        raise ValueError(f"{owner}.{field} holds {bad}, out of range: expected {lo}..{hi}")
    return arr
