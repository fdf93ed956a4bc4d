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


def _layout(kernels, spec: SelectionSpec):
    """The kernels' :class:`cwrnn_np.models.selection.kernels.Layout` of ``spec``: the base
    spec's modules, wiring, routing and clock, the selection row of each module (-1 if
    ungrouped), the groups' rows and one module of each group, whose clock is the group's."""
    base = spec.base
    module_row = np.full(spec.n_modules, -1, dtype=np.int64)
    module_row[spec.select_modules] = np.arange(len(spec.select_modules))
    return kernels.Layout(offsets=contiguous(base.offsets, np.int64),
                          C=contiguous(base.C, np.bool_), R=contiguous(base.R, np.bool_),
                          periods=np.array(base.periods, dtype=np.int64),
                          phases=np.array(base.phases, dtype=np.int64),
                          module_row=module_row,
                          group_ptr=contiguous(spec.group_ptr, np.int64),
                          group_clock=np.array([g[0] for g in spec.groups], dtype=np.int64))


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
    active_mod = spec.base.active(L, t0)                           # (L, n) clock chi_t
    kernels = load_kernels("selection")
    seq = kernels.Sequence(x=contiguous(x), h_init=h_in, r=contiguous(r),
                           reset=contiguous(reset, np.bool_),
                           active_mod=contiguous(active_mod, np.bool_))
    W_O = contiguous(params["W_O"])
    weights = kernels.ForwardWeights(
        W_IT=np.ascontiguousarray(params["W_I"].T, dtype),         # (D, H)
        W_HT=np.ascontiguousarray(params["W_H"].T, dtype),         # (H, H)
        b_H=contiguous(params["b_H"]), W_S=contiguous(params["W_S"]),
        b_S=contiguous(params["b_S"]), W_O=W_O, W_OT=np.ascontiguousarray(W_O.T),
        b_O=contiguous(params["b_O"]))
    out = kernels.select_forward_kernel(seq, weights, _layout(kernels, spec),
                                        spec.temperature)          # (S1-S6)
    active = np.repeat(active_mod, spec.module_sizes, axis=1)      # (L, H)
    cache = SelectionCache(x=x, h_init=h_in, r=r, h=out.h, th=out.th, g=out.g, active=active,
                           reset=reset, t0=t0, h_init_given=h_init is not None, backend="numba")
    return out.y, cache


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
    kernels = load_kernels("selection")
    layout = _layout(kernels, spec)
    active_mod = cache.active[:, layout.offsets[:-1]]              # (L, n) clock chi_t
    dy2 = dy.reshape(L * B, O)                                     # (L B, O)
    h2 = contiguous(h, dtype)
    # output layer (SB1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ h2.reshape(L * B, H)                            # (O, H)
    db_O = dy2.sum(axis=0)                                         # (O,)
    seq = kernels.Sequence(x=contiguous(x, dtype), h_init=contiguous(cache.h_init, dtype),
                           r=contiguous(cache.r, dtype), reset=contiguous(cache.reset, np.bool_),
                           active_mod=contiguous(active_mod, np.bool_))
    states = kernels.ForwardStates(h=h2, th=contiguous(cache.th, dtype),
                                   g=contiguous(cache.g, dtype))
    upstream = kernels.Upstream(
        dy=contiguous(dy, dtype),
        dh_last=np.zeros((B, H), dtype) if dh_last is None else contiguous(dh_last, dtype))
    W_I = contiguous(params["W_I"], dtype)
    weights = kernels.BackwardWeights(W_I=W_I, W_IT=np.ascontiguousarray(W_I.T),
                                      W_H=contiguous(params["W_H"], dtype),
                                      W_S=contiguous(params["W_S"]),
                                      W_O=contiguous(params["W_O"]))
    result = kernels.select_backward_kernel(seq, states, upstream, weights, layout,
                                            spec.temperature)      # (SB2-SB9)
    # the kernel writes only routed rows and wired blocks; the masks are applied as in the
    # reference, so every other entry is an exact zero of the reference's dtype
    grads = {"W_I": np.where(spec.base.M_I, result.dW_IT.T, 0).astype(dtype, copy=False),
             "W_H": np.where(spec.base.M_H, result.dW_H, 0).astype(dtype, copy=False),
             "b_H": result.db_H, "W_O": dW_O, "b_O": db_O, "W_S": result.dW_S,
             "b_S": result.db_S, "x": result.dx, "h_init": result.dh_init}
    if spec.learn_h0:
        grads["h_0"] = fold_h0(result.dr, result.dh_init, cache.h_init_given)   # (SB9)
    return grads
