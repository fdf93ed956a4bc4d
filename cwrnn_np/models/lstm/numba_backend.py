r"""The LSTM's Numba backend: :func:`forward_lstm_numba` and :func:`backward_lstm_numba`.

They prepare the arrays, gather them into the kernels' named inputs
(:class:`~cwrnn_np.models.lstm.kernels.Sequence`, ``ForwardWeights`` or ``BackwardWeights``,
``Activations``, ``Upstream``), call the kernels of :mod:`cwrnn_np.models.lstm.kernels` once
per sequence (chunk) in each direction and read their results by name. Signatures, cache and
results are those of the NumPy reference (:mod:`cwrnn_np.models.lstm.reference`; relative
:math:`10^{-12}` in float64).

Shape letters: L time, B batch, D input, H hidden (cells), O output.
"""
from __future__ import annotations

import numpy as np

from ...params import fold_h0
from ..family import contiguous, load_kernels
from .reference import LSTMCache, reset_state
from .spec import LSTMSpec

__all__ = ["forward_lstm_numba", "backward_lstm_numba"]


def _peepholes(params: dict, spec: LSTMSpec, dtype) -> dict:
    """``{"p_i", "p_f", "p_o"}``, each (H,), or three empty (0,) arrays without peepholes (the
    kernels skip the peephole terms when they are empty; the arrays' type is the same, so one
    compiled kernel serves both)."""
    if spec.peepholes:
        return {k: contiguous(params[k]) for k in ("p_i", "p_f", "p_o")}
    return {k: np.empty(0, dtype) for k in ("p_i", "p_f", "p_o")}


def forward_lstm_numba(params: dict, spec: LSTMSpec, x: np.ndarray, h_init, t0: int,
                       reset: np.ndarray):
    r"""LSTM forward pass in one Numba call; wraps
    :func:`cwrnn_np.models.lstm.kernels.lstm_forward_kernel`.

    Same parameters, returns and equations (L0–L7) as :func:`forward_lstm_numpy`; the cache
    has ``backend="numba"``.
    """
    L, B, _ = x.shape
    H = spec.hidden_size
    dtype = params["W_h"].dtype
    r = reset_state(params, spec, dtype)                           # (L0) (2H,)
    s_in = np.broadcast_to(r, (B, 2 * H)) if h_init is None else h_init
    s_in = np.array(s_in, dtype=dtype, order="C")                  # (B, 2H) own copy
    kernels = load_kernels("lstm")
    seq = kernels.Sequence(x=contiguous(x), s_in=s_in, r=contiguous(r),
                           reset=contiguous(reset, np.bool_))
    weights = kernels.ForwardWeights(
        W_xT=np.ascontiguousarray(params["W_x"].T),               # (D, 4H) W_x^T
        W_hT=np.ascontiguousarray(params["W_h"].T),               # (H, 4H) W_h^T
        b=contiguous(params["b"]), **_peepholes(params, spec, dtype),
        W_OT=np.ascontiguousarray(params["W_O"].T),               # (H, O) W_O^T
        b_O=contiguous(params["b_O"]))
    out = kernels.lstm_forward_kernel(seq, weights)                # (L0-L7)
    cache = LSTMCache(x=x, h_init=s_in, r=r, h=out.s, gates=out.gates, tanh_c=out.tanh_c,
                      reset=reset, t0=t0, h_init_given=h_init is not None, backend="numba")
    return out.y, cache


def backward_lstm_numba(params: dict, spec: LSTMSpec, dy: np.ndarray, cache: LSTMCache,
                        dh_last=None) -> dict:
    r"""Hand-derived LSTM BPTT in one Numba call; wraps
    :func:`cwrnn_np.models.lstm.kernels.lstm_backward_kernel`.

    Same parameters, returns and equations (LB1–LB10) as :func:`backward_lstm_numpy`: the
    output-layer weight gradients (LB1) are matrix products here, the recurrence (LB2–LB9) is
    the kernel, and LB10 folds the initial-state gradient into :math:`h_0`.
    """
    x, s = cache.x, cache.h
    L, B, _ = x.shape
    H, O = spec.hidden_size, spec.output_size
    dtype = params["W_h"].dtype
    dy2 = dy.reshape(L * B, O)                                     # (L B, O)
    s2 = contiguous(s, dtype)
    # output layer (LB1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ s2[:, :, :H].reshape(L * B, H)                  # (O, H)
    db_O = dy2.sum(axis=0)                                         # (O,)
    eps = np.zeros((B, 2 * H), dtype) if dh_last is None else contiguous(dh_last, dtype)
    kernels = load_kernels("lstm")
    seq = kernels.Sequence(x=contiguous(x, dtype), s_in=contiguous(cache.h_init, dtype),
                           r=contiguous(cache.r, dtype), reset=contiguous(cache.reset, np.bool_))
    weights = kernels.BackwardWeights(
        W_x=contiguous(params["W_x"]), W_h=contiguous(params["W_h"]),
        **_peepholes(params, spec, dtype), W_O=contiguous(params["W_O"]))
    acts = kernels.Activations(s=s2, gates=contiguous(cache.gates, dtype),
                               tanh_c=contiguous(cache.tanh_c, dtype))
    upstream = kernels.Upstream(dy=contiguous(dy, dtype), eps=eps)
    g = kernels.lstm_backward_kernel(seq, weights, acts, upstream)   # (LB2-LB9)
    D = x.shape[2]
    grads = {"W_x": np.ascontiguousarray(g.dW[:, :D]),             # (4H, D)
             "W_h": np.ascontiguousarray(g.dW[:, D:]), "b": g.db}  # (4H, H)
    if spec.peepholes:
        grads.update(p_i=g.dp_i, p_f=g.dp_f, p_o=g.dp_o)
    grads.update(W_O=dW_O, b_O=db_O, x=g.dx, h_init=g.dh_init)
    if spec.learn_h0:
        grads["h_0"] = fold_h0(g.dr, g.dh_init, cache.h_init_given)  # (LB10)
    return grads
