r"""Learned periods' Numba backend: :func:`forward_periods_numba`, :func:`backward_periods_numba`.

They prepare the arrays and call the kernels of :mod:`cwrnn_np.models.learned_periods.kernels`
once per sequence (chunk) in each direction, with the signatures, cache and results of the
NumPy reference (:mod:`cwrnn_np.models.learned_periods.reference`; relative :math:`10^{-12}` in
float64).

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.
"""
from __future__ import annotations

import numpy as np

from ...params import fold_h0
from ..family import contiguous, load_kernels
from .reference import PeriodCache, reset_state
from .spec import LearnedPeriodSpec

__all__ = ["forward_periods_numba", "backward_periods_numba"]


def _clock_arrays(params: dict, spec: LearnedPeriodSpec, dtype):
    """The kernels' view of P3: ``(emitted, W_mu, b_mu, W_rho, b_rho)``. In the static form
    ``b_mu``, ``b_rho`` are the parameters ``mu``, ``rho`` and the maps are empty (0, H)."""
    if spec.form == "emitted":
        return (True, contiguous(params["W_mu"]), contiguous(params["b_mu"]), contiguous(params["W_rho"]),
                contiguous(params["b_rho"]))
    empty = np.empty((0, spec.hidden_size), dtype)                  # (0, H) never read
    return False, empty, contiguous(params["mu"]), empty, contiguous(params["rho"])


def _wiring(spec: LearnedPeriodSpec):
    """``(offsets (n + 1,) int64, C (n, n) bool, R (n,) bool)`` of the base spec."""
    base = spec.base
    return (contiguous(base.offsets, np.int64), contiguous(base.C, np.bool_), contiguous(base.R, np.bool_))


def forward_periods_numba(params: dict, spec: LearnedPeriodSpec, x: np.ndarray, h_init,
                          t0: int, reset: np.ndarray):
    r"""Forward pass with learned periods in one Numba call; wraps
    :func:`cwrnn_np.models.learned_periods.kernels.periods_forward_kernel`.

    Same parameters, returns and equations (P1–P7) as :func:`forward_periods_numpy`; the
    cache holds the same arrays, with ``backend="numba"``.
    """
    L, B, D = x.shape
    H = spec.hidden_size
    dtype = params["W_H"].dtype
    r = reset_state(params, spec.base, dtype)                       # (H,)
    h_in = np.broadcast_to(r, (B, H)) if h_init is None else h_init
    h_in = np.array(h_in, dtype=dtype, order="C")                   # (B, H) own copy
    emitted, W_mu, b_mu, W_rho, b_rho = _clock_arrays(params, spec, dtype)
    offsets, C, R = _wiring(spec)
    h, th, mu, rho, sigma, alpha, w, y = load_kernels("learned_periods").periods_forward_kernel(
        contiguous(x), h_in, contiguous(r), contiguous(reset, np.bool_), int(t0), offsets, C, R,
        np.ascontiguousarray(params["W_I"].T),                      # (D, H) W_I^T
        np.ascontiguousarray(params["W_H"].T),                      # (H, H) W_H^T
        contiguous(params["b_H"]), emitted, W_mu, b_mu, W_rho, b_rho,
        spec.log_candidates.astype(dtype),                          # (P,)
        np.asarray(spec.candidates, np.int64), dtype.type(spec.temperature),
        contiguous(params["W_O"]), contiguous(params["b_O"]))                       # (P1-P7)
    cache = PeriodCache(x=x, h_init=h_in, r=r, h=h, th=th, mu=mu, rho=rho, sigma=sigma,
                        alpha=alpha, w=w, reset=reset, t0=t0,
                        h_init_given=h_init is not None, backend="numba")
    return y, cache


def backward_periods_numba(params: dict, spec: LearnedPeriodSpec, dy: np.ndarray,
                           cache: PeriodCache, dh_last=None) -> dict:
    r"""Hand-derived BPTT with learned periods in one Numba call; wraps
    :func:`cwrnn_np.models.learned_periods.kernels.periods_backward_kernel`.

    Same parameters, returns and equations (PB1–PB10) as :func:`backward_periods_numpy`: the
    output-layer gradients (PB1) are matrix products here, the recurrence (PB2–PB9) and the
    sums over steps (PB10) are the kernel. The kernel never touches an unwired block, so the
    structural zeros of ``W_I`` and ``W_H`` get exactly zero without a mask.
    """
    x, h = cache.x, cache.h
    L, B, D = x.shape
    H, O = spec.hidden_size, spec.output_size
    dtype = params["W_H"].dtype
    h2 = contiguous(h, dtype)
    dy2 = dy.reshape(L * B, O)                                      # (L B, O)
    # output layer (PB1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ h2.reshape(L * B, H)                             # (O, H)
    db_O = dy2.sum(axis=0)                                          # (O,)
    eps = np.zeros((B, H), dtype) if dh_last is None else contiguous(dh_last, dtype)
    emitted, W_mu, _, W_rho, _ = _clock_arrays(params, spec, dtype)
    offsets, C, R = _wiring(spec)
    dW_I, dW_H, db_H, dW_mu, db_mu, dW_rho, db_rho, dx, dh_init, dr = \
        load_kernels("learned_periods").periods_backward_kernel(
            contiguous(x, dtype), contiguous(cache.h_init, dtype), contiguous(cache.r, dtype), h2,
            contiguous(cache.th, dtype), contiguous(cache.mu, dtype), contiguous(cache.rho, dtype),
            contiguous(cache.sigma, dtype), contiguous(cache.alpha, dtype), contiguous(cache.w, dtype),
            contiguous(cache.reset, np.bool_), int(cache.t0), offsets, C, R, contiguous(params["W_I"]),
            contiguous(params["W_H"]), emitted, W_mu, W_rho, spec.log_candidates.astype(dtype),
            np.asarray(spec.candidates, np.int64), dtype.type(spec.temperature),
            contiguous(dy, dtype), contiguous(params["W_O"]), eps)                  # (PB2-PB10)
    grads = {"W_I": dW_I, "W_H": dW_H, "b_H": db_H, "W_O": dW_O, "b_O": db_O}
    # the clock's parameters: sums over steps and batch (PB10)
    if emitted:
        grads.update(W_mu=dW_mu, b_mu=db_mu, W_rho=dW_rho, b_rho=db_rho)
    else:
        grads.update(mu=db_mu, rho=db_rho)
    grads.update(x=dx, h_init=dh_init)
    if spec.learn_h0:
        grads["h_0"] = fold_h0(dr, dh_init, cache.h_init_given)    # (PB10)
    return grads
