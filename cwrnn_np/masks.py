r"""Who feeds whom: module-level connectivity, input routing and their unit-level masks.

Shapes: n modules, H hidden units, D inputs; module ``i`` owns ``k_i`` consecutive units.

A connectivity matrix :math:`C \in \{0,1\}^{n \times n}` has :math:`C_{ij} = 1` iff module ``j``
feeds module ``i``; block ``(i, j)`` of :math:`W_H` is structurally zero where :math:`C_{ij} = 0`.
Input routing :math:`R \in \{0,1\}^n` has :math:`R_i = 1` iff module ``i`` reads the input;
rows of :math:`W_I` that belong to a module with :math:`R_i = 0` are structurally zero.

Presets (``docs/model.md`` §3):

==================== ===============================================================
``"clockwork"``      :math:`C_{ij} = [T_j \ge T_i]`, Koutník et al. 2014 (slow feeds fast)
``"clockwork-strict"`` :math:`C_{ij} = [i = j \lor T_j > T_i]`
``"full"``           every module reads every module (the design note's full duplex)
``"fast-to-slow"``   :math:`C_{ij} = [T_j \le T_i]`
``"block-diagonal"`` :math:`C_{ij} = [i = j]`
``"upper-triangular"`` :math:`C_{ij} = [j \ge i]` by position, whatever the periods (the note's
                     own code)
``"lower-triangular"`` :math:`C_{ij} = [j \le i]` by position
==================== ===============================================================
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = [
    "CONNECTIVITY_PRESETS",
    "INPUT_PRESETS",
    "connectivity_matrix",
    "input_routing",
    "expand_hidden_mask",
    "expand_input_mask",
    "unreachable_modules",
]

CONNECTIVITY_PRESETS = (
    "clockwork",
    "clockwork-strict",
    "full",
    "fast-to-slow",
    "block-diagonal",
    "upper-triangular",
    "lower-triangular",
)
INPUT_PRESETS = ("all", "fastest")


def _as_bool_array(value, shape, field):
    """Return ``value`` as a boolean array of ``shape`` or raise ValueError naming ``field``."""
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise ValueError(
            f"{field} must be boolean (dtype bool), got dtype {arr.dtype}"
            f"{' (object array: ragged or mixed rows?)' if arr.dtype == object else ''}"
        )
    if arr.shape != shape:
        raise ValueError(f"{field} must have shape {shape}, got shape {arr.shape}")
    return arr.copy()


def connectivity_matrix(connectivity, periods: Sequence[int]) -> np.ndarray:
    """Module-level connectivity ``C`` (n, n) bool: ``C[i, j]`` iff module j feeds module i.

    ``connectivity`` is a preset name from ``CONNECTIVITY_PRESETS`` or an (n, n) boolean array.
    """
    T = np.asarray(periods)
    n = len(T)
    if isinstance(connectivity, str):
        i = np.arange(n)[:, None]
        j = np.arange(n)[None, :]
        Ti, Tj = T[:, None], T[None, :]
        if connectivity == "clockwork":
            C = Tj >= Ti
        elif connectivity == "clockwork-strict":
            C = (i == j) | (Tj > Ti)
        elif connectivity == "full":
            C = np.ones((n, n), dtype=bool)
        elif connectivity == "fast-to-slow":
            C = Tj <= Ti
        elif connectivity == "block-diagonal":
            C = i == j
        elif connectivity == "upper-triangular":
            C = j >= i
        elif connectivity == "lower-triangular":
            C = j <= i
        else:
            raise ValueError(
                f"connectivity must be one of {CONNECTIVITY_PRESETS} or an (n, n) boolean array, "
                f"got {connectivity!r}"
            )
        return np.ascontiguousarray(np.broadcast_to(C, (n, n)), dtype=bool)
    return _as_bool_array(connectivity, (n, n), "connectivity")


def input_routing(input_modules, periods: Sequence[int]) -> np.ndarray:
    """Per-module input routing ``R`` (n,) bool: ``R[i]`` iff module i reads x.

    ``input_modules`` is ``"all"`` (the paper), ``"fastest"`` (only the modules whose period is
    the smallest; the design note's "no input to the slower modules") or n booleans.
    """
    T = np.asarray(periods)
    n = len(T)
    if isinstance(input_modules, str):
        if input_modules == "all":
            return np.ones(n, dtype=bool)
        if input_modules == "fastest":
            return T == T.min()
        raise ValueError(
            f"input_modules must be one of {INPUT_PRESETS} or a list of n booleans, "
            f"got {input_modules!r}"
        )
    return _as_bool_array(input_modules, (n,), "input_modules")


def expand_hidden_mask(C: np.ndarray, module_sizes: Sequence[int]) -> np.ndarray:
    """Unit-level mask ``M_H`` (H, H) of W_H: block (i, j) is ``C[i, j]`` everywhere."""
    k = np.asarray(module_sizes)
    return np.repeat(np.repeat(C, k, axis=0), k, axis=1)  # (H, H)


def expand_input_mask(R: np.ndarray, module_sizes: Sequence[int], input_size: int) -> np.ndarray:
    """Unit-level mask ``M_I`` (H, D) of W_I: the rows of module i are ``R[i]``."""
    k = np.asarray(module_sizes)
    return np.repeat(R, k)[:, None] & np.ones((1, input_size), dtype=bool)  # (H, D)


def unreachable_modules(C: np.ndarray, R: np.ndarray) -> list[int]:
    """Modules that no input can ever reach, through routing ``R`` and connectivity ``C``.

    Module i is reachable iff ``R[i]`` or some reachable module j has ``C[i, j]``; this is the
    least fixed point, found by propagating from the routed modules.
    """
    reach = R.copy()
    while True:
        new = reach | (C[:, reach].any(axis=1) if reach.any() else reach)
        if np.array_equal(new, reach):
            break
        reach = new
    return [int(i) for i in np.flatnonzero(~reach)]
