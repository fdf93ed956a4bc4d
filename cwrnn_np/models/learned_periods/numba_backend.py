r"""Learned periods' Numba backend: :func:`forward_periods_numba`, :func:`backward_periods_numba`.

They prepare the arrays, gather them into the kernels' named inputs
(:class:`~cwrnn_np.models.learned_periods.kernels.Sequence`, ``Wiring``, ``PeriodClock``,
``ForwardWeights`` or ``BackwardWeights``, ``Activations``, ``Upstream``), call the kernels of
:mod:`cwrnn_np.models.learned_periods.kernels` once per sequence (chunk) in each direction and
read their results by name. Signatures, cache and results are those of the NumPy reference
(:mod:`cwrnn_np.models.learned_periods.reference`; relative :math:`10^{-12}` in float64).

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.
"""
from __future__ import annotations

import numpy as np

from ...params import fold_h0
from ..family import contiguous, load_kernels
from .reference import PeriodCache, reset_state
from .spec import LearnedPeriodSpec

__all__ = ["forward_periods_numba", "backward_periods_numba"]


def _clock(params: dict, spec: LearnedPeriodSpec, dtype, kernels):
    """The kernels' :class:`~cwrnn_np.models.learned_periods.kernels.PeriodClock` (P3-P6). In
    the static form ``b_mu``, ``b_rho`` are the parameters ``mu``, ``rho`` and the maps are
    empty (0, H) arrays of the same type as the emitted form's, so one compiled kernel serves
    both forms."""
    if spec.form == "emitted":
        maps = dict(W_mu=contiguous(params["W_mu"]), b_mu=contiguous(params["b_mu"]),
                    W_rho=contiguous(params["W_rho"]), b_rho=contiguous(params["b_rho"]))
    else:
        empty = np.empty((0, spec.hidden_size), dtype)              # (0, H) never read
        maps = dict(W_mu=empty, b_mu=contiguous(params["mu"]), W_rho=empty,
                    b_rho=contiguous(params["rho"]))
    return kernels.PeriodClock(emitted=spec.form == "emitted", **maps,
                               log_p=spec.log_candidates.astype(dtype),          # (P,)
                               cands=np.asarray(spec.candidates, np.int64),      # (P,)
                               tau=dtype.type(spec.temperature))


def _wiring(spec: LearnedPeriodSpec, kernels):
    """The kernels' :class:`~cwrnn_np.models.learned_periods.kernels.Wiring` of the base spec:
    ``offsets`` (n + 1,) int64, ``C`` (n, n) bool, ``R`` (n,) bool."""
    base = spec.base
    return kernels.Wiring(offsets=contiguous(base.offsets, np.int64),
                          C=contiguous(base.C, np.bool_), R=contiguous(base.R, np.bool_))


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
    kernels = load_kernels("learned_periods")
    seq = kernels.Sequence(x=contiguous(x), h_in=h_in, r=contiguous(r),
                           reset=contiguous(reset, np.bool_), t0=int(t0))
    weights = kernels.ForwardWeights(
        W_IT=np.ascontiguousarray(params["W_I"].T),                # (D, H) W_I^T
        W_HT=np.ascontiguousarray(params["W_H"].T),                # (H, H) W_H^T
        b_H=contiguous(params["b_H"]), W_O=contiguous(params["W_O"]),
        b_O=contiguous(params["b_O"]))
    out = kernels.periods_forward_kernel(seq, _wiring(spec, kernels),
                                         _clock(params, spec, dtype, kernels), weights)  # (P1-P7)
    cache = PeriodCache(x=x, h_init=h_in, r=r, h=out.h, th=out.th, mu=out.mu, rho=out.rho,
                        sigma=out.sigma, alpha=out.alpha, w=out.w, reset=reset, t0=t0,
                        h_init_given=h_init is not None, backend="numba")
    return out.y, cache


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
    kernels = load_kernels("learned_periods")
    seq = kernels.Sequence(x=contiguous(x, dtype), h_in=contiguous(cache.h_init, dtype),
                           r=contiguous(cache.r, dtype), reset=contiguous(cache.reset, np.bool_),
                           t0=int(cache.t0))
    weights = kernels.BackwardWeights(W_I=contiguous(params["W_I"]),
                                      W_H=contiguous(params["W_H"]),
                                      W_O=contiguous(params["W_O"]))
    acts = kernels.Activations(h=h2, th=contiguous(cache.th, dtype),
                               mu=contiguous(cache.mu, dtype), rho=contiguous(cache.rho, dtype),
                               sigma=contiguous(cache.sigma, dtype),
                               alpha=contiguous(cache.alpha, dtype), w=contiguous(cache.w, dtype))
    upstream = kernels.Upstream(dy=contiguous(dy, dtype), eps=eps)
    g = kernels.periods_backward_kernel(seq, _wiring(spec, kernels),
                                        _clock(params, spec, dtype, kernels), weights, acts,
                                        upstream)                           # (PB2-PB10)
    grads = {"W_I": g.dW_I, "W_H": g.dW_H, "b_H": g.db_H, "W_O": dW_O, "b_O": db_O}
    # the clock's parameters: sums over steps and batch (PB10)
    if spec.form == "emitted":
        grads.update(W_mu=g.dW_mu, b_mu=g.db_mu, W_rho=g.dW_rho, b_rho=g.db_rho)
    else:
        grads.update(mu=g.db_mu, rho=g.db_rho)
    grads.update(x=g.dx, h_init=g.dh_init)
    if spec.learn_h0:
        grads["h_0"] = fold_h0(g.dr, g.dh_init, cache.h_init_given)  # (PB10)
    return grads
