r"""Soft selection's Numba backend: :func:`forward_select_numba`, :func:`backward_select_numba`.

They prepare the arrays and call the kernels of :mod:`cwrnn_np.models.selection.kernels` once
per sequence (chunk) in each direction, with the signatures, cache and results of the NumPy
reference (:mod:`cwrnn_np.models.selection.reference`; relative :math:`10^{-12}` in float64).

Shape letters: L time, B batch, D input, H hidden, O output, n modules, S selection rows.
"""
from __future__ import annotations

import numpy as np

from ...params import fold_h0
from ..family import contiguous, load_kernels
from .reference import SelectionCache, reset_state
from .spec import SelectionSpec

__all__ = ["forward_select_numba", "backward_select_numba"]


def _layout(spec: SelectionSpec):
    """The kernels' layout arrays (:mod:`cwrnn_np.models.selection.kernels`): ``offsets`` (n + 1,),
    ``C`` (n, n) bool, ``R`` (n,) bool, ``periods`` and ``phases`` (n,) (the base spec's
    modules, wiring, routing and clock), ``module_row`` (n,) (the selection row of each module,
    -1 if ungrouped), ``group_ptr`` (n_groups + 1,) and ``group_clock`` (n_groups,) (one module
    of each group, whose clock is the group's)."""
    base = spec.base
    module_row = np.full(spec.n_modules, -1, dtype=np.int64)
    module_row[spec.select_modules] = np.arange(len(spec.select_modules))
    group_clock = np.array([g[0] for g in spec.groups], dtype=np.int64)
    return (contiguous(base.offsets, np.int64), contiguous(base.C, np.bool_), contiguous(base.R, np.bool_),
            np.array(base.periods, dtype=np.int64), np.array(base.phases, dtype=np.int64),
            module_row, contiguous(spec.group_ptr, np.int64), group_clock)


def forward_select_numba(params: dict, spec: SelectionSpec, x: np.ndarray, h_init, t0: int,
                         reset: np.ndarray):
    r"""Forward pass with soft selection in one Numba call; wraps
    :func:`cwrnn_np.models.selection.kernels.select_forward_kernel`.

    Same parameters, returns and equations (S1–S6) as :func:`forward_select_numpy`; only the
    active modules, their wired blocks of W_H and routed rows of W_I, and the active groups are
    computed (M1 holds by construction: masked entries are never read, so the weights are
    passed unmasked). The cache has ``backend="numba"``.
    """
    L, B, _ = x.shape
    H = spec.hidden_size
    dtype = params["W_H"].dtype
    r = reset_state(params, spec.base, dtype)
    h_in = np.broadcast_to(r, (B, H)) if h_init is None else h_init
    h_in = np.array(h_in, dtype=dtype, order="C")                  # (B, H) own copy
    active_mod = spec.base.active(L, t0)                           # (L, n) clock c_t
    layout = _layout(spec)
    W_O = contiguous(params["W_O"])
    h, th, g, y = load_kernels("selection").select_forward_kernel(
        contiguous(x), h_in, contiguous(r), contiguous(reset, np.bool_), contiguous(active_mod, np.bool_), *layout,
        np.ascontiguousarray(params["W_I"].T, dtype),              # (D, H) W_I^T
        np.ascontiguousarray(params["W_H"].T, dtype),              # (H, H) W_H^T
        contiguous(params["b_H"]), contiguous(params["W_S"]), contiguous(params["b_S"]), spec.temperature,
        W_O, np.ascontiguousarray(W_O.T), contiguous(params["b_O"]))      # (S1-S6)
    active = np.repeat(active_mod, spec.module_sizes, axis=1)      # (L, H)
    cache = SelectionCache(x=x, h_init=h_in, r=r, h=h, th=th, g=g, active=active, reset=reset,
                           t0=t0, h_init_given=h_init is not None, backend="numba")
    return y, cache


def backward_select_numba(params: dict, spec: SelectionSpec, dy: np.ndarray,
                          cache: SelectionCache, dh_last=None) -> dict:
    r"""Hand-derived BPTT for the soft selection in one Numba call; wraps
    :func:`cwrnn_np.models.selection.kernels.select_backward_kernel`.

    Same parameters, returns and equations (SB1–SB9) as :func:`backward_select_numpy`: the
    output-layer gradients (SB1) are matrix products here, the recurrence (SB2–SB9) is the
    kernel, which visits only the active modules and groups, and reads and writes only the
    wired blocks of W_H and the routed rows of W_I (so the weights are passed unmasked). Reads
    only the cache fields both backends fill, so either forward's cache works.
    """
    x, h = cache.x, cache.h
    L, B, _ = x.shape
    H, O = spec.hidden_size, spec.output_size
    dtype = params["W_H"].dtype
    layout = _layout(spec)
    active_mod = cache.active[:, layout[0][:-1]]                   # (L, n) clock c_t
    dy2 = dy.reshape(L * B, O)                                     # (L B, O)
    h2 = contiguous(h, dtype)
    # output layer (SB1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ h2.reshape(L * B, H)                            # (O, H)
    db_O = dy2.sum(axis=0)                                         # (O,)
    eps = np.zeros((B, H), dtype) if dh_last is None else contiguous(dh_last, dtype)
    W_I = contiguous(params["W_I"], dtype)
    dW_IT, dW_H, db_H, dW_S, db_S, dx, dh_init, dr = load_kernels("selection").select_backward_kernel(
        contiguous(x, dtype), contiguous(cache.h_init, dtype), contiguous(cache.r, dtype), h2, contiguous(cache.th, dtype),
        contiguous(cache.g, dtype), contiguous(cache.reset, np.bool_), contiguous(active_mod, np.bool_), *layout,
        W_I, np.ascontiguousarray(W_I.T), contiguous(params["W_H"], dtype),
        contiguous(params["W_S"]), spec.temperature, contiguous(dy, dtype), contiguous(params["W_O"]),
        eps)                                                       # (SB2-SB9)
    # the kernel writes only routed rows and wired blocks; the masks are applied as in the
    # reference, so every other entry is an exact zero of the reference's dtype
    grads = {"W_I": np.where(spec.base.M_I, dW_IT.T, 0).astype(dtype, copy=False),
             "W_H": np.where(spec.base.M_H, dW_H, 0).astype(dtype, copy=False),
             "b_H": db_H, "W_O": dW_O, "b_O": db_O, "W_S": dW_S, "b_S": db_S,
             "x": dx, "h_init": dh_init}
    if spec.learn_h0:
        grads["h_0"] = fold_h0(dr, dh_init, cache.h_init_given)    # (SB9)
    return grads
