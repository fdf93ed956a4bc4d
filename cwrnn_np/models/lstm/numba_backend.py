r"""The LSTM's Numba backend: :func:`forward_lstm_numba` and :func:`backward_lstm_numba`.

They prepare the arrays and call the kernels of :mod:`cwrnn_np.models.lstm.kernels` once per
sequence (chunk) in each direction, with the signatures, cache and results of the NumPy
reference (:mod:`cwrnn_np.models.lstm.reference`; relative :math:`10^{-12}` in float64).

Shape letters: L time, B batch, D input, H hidden (cells), O output.
"""
from __future__ import annotations

import numpy as np

from ...params import fold_h0
from ..family import contiguous, load_kernels
from .reference import LSTMCache, reset_state
from .spec import LSTMSpec

__all__ = ["forward_lstm_numba", "backward_lstm_numba"]


def _peepholes(params: dict, spec: LSTMSpec, dtype):
    """(p_i, p_f, p_o), each (H,), or three empty arrays without peepholes (the kernels skip
    the peephole terms when they are empty)."""
    if spec.peepholes:
        return tuple(contiguous(params[k]) for k in ("p_i", "p_f", "p_o"))
    return tuple(np.empty(0, dtype) for _ in range(3))


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
    p_i, p_f, p_o = _peepholes(params, spec, dtype)
    s, gates, tanh_c, y = load_kernels("lstm").lstm_forward_kernel(
        contiguous(x), s_in, contiguous(r), contiguous(reset, np.bool_),
        np.ascontiguousarray(params["W_x"].T),                     # (D, 4H) W_x^T
        np.ascontiguousarray(params["W_h"].T),                     # (H, 4H) W_h^T
        contiguous(params["b"]), p_i, p_f, p_o, contiguous(params["W_O"]), contiguous(params["b_O"]))  # (L1-L7)
    cache = LSTMCache(x=x, h_init=s_in, r=r, h=s, gates=gates, tanh_c=tanh_c, reset=reset,
                      t0=t0, h_init_given=h_init is not None, backend="numba")
    return y, cache


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
    p_i, p_f, p_o = _peepholes(params, spec, dtype)
    dW_x, dW_h, db, dp_i, dp_f, dp_o, dx, dh_init, dr = load_kernels("lstm").lstm_backward_kernel(
        contiguous(x, dtype), contiguous(cache.h_init, dtype), contiguous(cache.r, dtype), s2,
        contiguous(cache.gates, dtype), contiguous(cache.tanh_c, dtype), contiguous(cache.reset, np.bool_),
        contiguous(params["W_x"]), contiguous(params["W_h"]), p_i, p_f, p_o, contiguous(dy, dtype),
        contiguous(params["W_O"]), eps)                                    # (LB2-LB9)
    grads = {"W_x": dW_x, "W_h": dW_h, "b": db}
    if spec.peepholes:
        grads.update(p_i=dp_i, p_f=dp_f, p_o=dp_o)
    grads.update(W_O=dW_O, b_O=db_O, x=dx, h_init=dh_init)
    if spec.learn_h0:
        grads["h_0"] = fold_h0(dr, dh_init, cache.h_init_given)    # (LB10)
    return grads
