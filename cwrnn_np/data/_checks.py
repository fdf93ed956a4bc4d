"""Argument checks shared by the data modules; every message names the argument and its value.

Integers are checked by :func:`cwrnn_np.validation.check_count`."""
from __future__ import annotations

import numpy as np


def check_rng(rng, name: str = "rng") -> np.random.Generator:
    """Refuse anything but a ``numpy.random.Generator`` (seeds are passed in, never global)."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"{name} must be a numpy.random.Generator (np.random.default_rng(seed)), "
                         f"got {type(rng).__name__}")
    return rng


def check_ids(ids, name: str = "ids", ndim: int = 1) -> np.ndarray:
    """Return ``ids`` as an int64 array of ``ndim`` dimensions with no negative entry."""
    arr = np.asarray(ids)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array of integer ids, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} must be >= 0, got {int(arr.min())}")
    return arr
