r"""Numba kernels of the CW-RNN with learned clock periods: forward pass and BPTT, one call per
sequence.

The design note's variant "let the RNN emit a Gaussian distribution over time periods" (on the
Clockwork RNN of Koutník et al., "A Clockwork RNN", ICML 2014): every module holds a
distribution over candidate periods, Gaussian in log-period, and updates by its expected clock.
The equations and their tags (P1–P7 forward, PB1–PB10 backward) are those of
``docs/variants.md`` and of the readable reference
:func:`cwrnn_np.learned_periods.forward_periods_numpy` /
:func:`cwrnn_np.learned_periods.backward_periods_numpy`, which these kernels reproduce to
rounding (relative :math:`10^{-12}` norm-wise in float64). The forward kernel fills the same
cache arrays as the reference (:math:`\tanh a_t`, :math:`\mu_t`, :math:`\rho_t`,
:math:`\sigma_t`, :math:`\alpha_t`, :math:`w_t`), so either backend's cache works with either
backward pass.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.

Each kernel is a plain function compiled once, at import, with the options of
:mod:`cwrnn_np.kernels.config`; every array is an argument. The wrappers that validate, prepare
and call them are :func:`cwrnn_np.learned_periods.forward_periods_numba` and
:func:`cwrnn_np.learned_periods.backward_periods_numba`.

Both forms in one kernel pair
-----------------------------
The flag ``emitted`` selects the form of P3. In the *emitted* form
:math:`\mu_t = W_\mu \tilde h_{t-1} + b_\mu` and :math:`\rho_t = W_\rho \tilde h_{t-1} + b_\rho`
with ``W_mu``, ``W_rho`` (n, H); in the *static* form the wrapper passes the parameters
:math:`\mu, \rho` as ``b_mu``, ``b_rho`` and empty (0, H) maps, which the kernels never read, and
the backward kernel's ``db_mu``, ``db_rho`` are then the gradients of :math:`\mu, \rho`.

Wiring without masks
--------------------
The soft clock updates every module at every step (:math:`\alpha_t > 0` in general), so there
are no inactive modules to skip; but the wiring is still honoured block by block: module i reads
the input only if ``R[i]`` and the state of module j only if ``C[i, j]``, with module i owning
hidden units ``offsets[i]:offsets[i+1]``. Unwired blocks are neither multiplied nor given a
gradient, so the structural zeros of :math:`W_I`, :math:`W_H` get exactly zero (P2, PB10).

As in :mod:`cwrnn_np.kernels.clockwork`, products are plain loops (``np.dot`` inside Numba needs
SciPy, which is not a dependency) with the innermost loop over contiguous memory: the forward
pass accumulates :math:`a_t` from rows of the transposed weights ``W_IT`` (D, H) and ``W_HT``
(H, H); the backward pass applies rows of ``W_I``, ``W_H`` to :math:`\bar a_t`. Softplus and
the sigmoid are the overflow-free forms of :func:`cwrnn_np.learned_periods.softplus` and
:func:`cwrnn_np.learned_periods.sigmoid`; the softmax of P5 subtracts its maximum.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .config import JIT_OPTIONS
from .lstm import sigmoid_scalar

__all__ = ["periods_forward_kernel", "periods_backward_kernel", "softplus_scalar",
           "sigmoid_scalar"]


@njit(**JIT_OPTIONS)
def softplus_scalar(z):
    r""":math:`\log(1 + e^z) = \max(z, 0) + \log(1 + e^{-|z|})` without overflow (as
    ``np.logaddexp(0, z)``, :func:`cwrnn_np.learned_periods.softplus`)."""
    if z > 0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@njit(**JIT_OPTIONS)
def periods_forward_kernel(x, h_in, r, reset, t0, offsets, C, R, W_IT, W_HT, b_H, emitted,
                           W_mu, b_mu, W_rho, b_rho, log_p, cands, tau, W_O, b_O):
    r"""Forward pass with learned periods over a whole sequence (equations P1–P7).

    Parameters
    ----------
    x : (L, B, D) inputs.
    h_in : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (P1).
    t0 : int, the clock offset: step t is global step t0 + t.
    offsets : (n + 1,) int, module i owns units ``offsets[i]:offsets[i+1]``.
    C : (n, n) bool wiring, ``C[i, j]`` iff module j feeds module i; R : (n,) bool routing.
    W_IT : (D, H), W_HT : (H, H) the transposed input and recurrent weights; b_H : (H,).
    emitted : bool, the form of P3.
    W_mu, W_rho : (n, H) (emitted) or (0, H) (static, unread).
    b_mu, b_rho : (n,) the biases of the emitted clock, or the static :math:`\mu, \rho`.
    log_p : (P,) :math:`\log p`; cands : (P,) int the candidate periods p.
    tau : the temperature :math:`\tau` (P4), a scalar of the arrays' dtype.
    W_O : (O, H), b_O : (O,) the readout.

    Returns
    -------
    h, th : (L, B, H) the states :math:`h_t` and :math:`\tanh(a_t)`.
    mu, rho, sigma, alpha : (L, B, n) :math:`\mu_t, \rho_t, \sigma_t, \alpha_t`.
    w : (L, B, n, P) the period distributions :math:`w_t`.
    y : (L, B, O) outputs.
    """
    L, B, D = x.shape
    H = W_HT.shape[0]
    n = offsets.shape[0] - 1
    P = log_p.shape[0]
    O = W_O.shape[0]
    dtype = h_in.dtype
    h = np.empty((L, B, H), dtype=dtype)              # (L, B, H)
    th = np.empty((L, B, H), dtype=dtype)             # (L, B, H)
    mu = np.empty((L, B, n), dtype=dtype)             # (L, B, n)
    rho = np.empty((L, B, n), dtype=dtype)            # (L, B, n)
    sigma = np.empty((L, B, n), dtype=dtype)          # (L, B, n)
    alpha = np.empty((L, B, n), dtype=dtype)          # (L, B, n)
    w = np.empty((L, B, n, P), dtype=dtype)           # (L, B, n, P)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    prev = h_in.copy()                                # (B, H) the state entering step t
    a = np.empty(H, dtype=dtype)                      # (H,) pre-activations of one row
    m = np.empty(P, dtype=dtype)                      # (P,) the clock of each candidate
    for t in range(L):
        for p in range(P):
            m[p] = 1.0 if (t0 + t) % cands[p] == 0 else 0.0
        for bb in range(B):
            hp = prev[bb]
            if reset[t]:
                # (P1) forget: the state entering step t is r
                for k in range(H):
                    hp[k] = r[k]
            # a_t = W_I x_t + W_H h_{t-1} + b_H over the wired blocks only (P2)
            for i in range(n):
                lo, hi = offsets[i], offsets[i + 1]
                for q in range(lo, hi):
                    a[q] = 0.0
                if R[i]:
                    for d in range(D):
                        xv = x[t, bb, d]
                        wr = W_IT[d]
                        for q in range(lo, hi):
                            a[q] += xv * wr[q]
                for j in range(n):
                    if C[i, j]:
                        for k in range(offsets[j], offsets[j + 1]):
                            hv = hp[k]
                            wr = W_HT[k]
                            for q in range(lo, hi):
                                a[q] += hv * wr[q]
                for q in range(lo, hi):
                    th[t, bb, q] = math.tanh(a[q] + b_H[q])
            for i in range(n):
                # the clock's location and spread: parameters or emitted from the state (P3)
                mu_i = b_mu[i]
                rho_i = b_rho[i]
                if emitted:
                    acc_mu = 0.0
                    acc_rho = 0.0
                    wm = W_mu[i]
                    wr = W_rho[i]
                    for k in range(H):
                        acc_mu += hp[k] * wm[k]
                        acc_rho += hp[k] * wr[k]
                    mu_i = acc_mu + b_mu[i]
                    rho_i = acc_rho + b_rho[i]
                sig = tau * softplus_scalar(rho_i)                  # (P4)
                mu[t, bb, i] = mu_i
                rho[t, bb, i] = rho_i
                sigma[t, bb, i] = sig
                # softmax over candidates of the Gaussian in log-period, max subtracted (P5)
                wi = w[t, bb, i]
                top = -np.inf
                for p in range(P):
                    diff = log_p[p] - mu_i
                    e = -(diff * diff) / (2 * (sig * sig))
                    wi[p] = e
                    if e > top:
                        top = e
                total = 0.0
                for p in range(P):
                    wi[p] = math.exp(wi[p] - top)
                    total += wi[p]
                al = 0.0
                for p in range(P):
                    wi[p] = wi[p] / total
                    al += wi[p] * m[p]                              # (P6)
                alpha[t, bb, i] = al
                # soft update: the expected clock mixes the new and the held state (P7)
                for k in range(offsets[i], offsets[i + 1]):
                    h[t, bb, k] = al * th[t, bb, k] + (1 - al) * hp[k]
            # readout y_t = W_O h_t + b_O (P7)
            ht = h[t, bb]
            for o in range(O):
                acc = 0.0
                wo = W_O[o]
                for k in range(H):
                    acc += ht[k] * wo[k]
                y[t, bb, o] = acc + b_O[o]
            for k in range(H):
                hp[k] = ht[k]
    return h, th, mu, rho, sigma, alpha, w, y


@njit(**JIT_OPTIONS)
def periods_backward_kernel(x, h_in, r, h, th, mu, rho, sigma, alpha, w, reset, t0, offsets, C,
                            R, W_I, W_H, emitted, W_mu, W_rho, log_p, cands, tau, dy, W_O,
                            eps_in):
    r"""Hand-derived BPTT with learned periods over a whole sequence (equations PB2–PB10).

    Parameters
    ----------
    x : (L, B, D) inputs; h_in : (B, H) the carried-in state; r : (H,) the reset state.
    h, th : (L, B, H); mu, rho, sigma, alpha : (L, B, n); w : (L, B, n, P): the forward cache.
    reset : (L,) bool; t0 : int the clock offset.
    offsets : (n + 1,) int; C : (n, n) bool wiring; R : (n,) bool routing.
    W_I : (H, D), W_H : (H, H) weights (only wired blocks are read).
    emitted : bool; W_mu, W_rho : (n, H) (emitted) or (0, H) (static, unread).
    log_p : (P,); cands : (P,) int; tau : the temperature.
    dy : (L, B, O) upstream gradient on the outputs; W_O : (O, H).
    eps_in : (B, H) upstream gradient on the last state (``dh_last``, or zeros).

    Returns
    -------
    dW_I : (H, D), dW_H : (H, H), db_H : (H,): zero outside the wired blocks.
    dW_mu, dW_rho : shaped like ``W_mu``, ``W_rho``; db_mu, db_rho : (n,), the gradients of
    :math:`b_\mu, b_\rho` (emitted) or of :math:`\mu, \rho` (static).
    dx : (L, B, D); dh_init : (B, H) the gradient on ``h_in``; dr : (H,) the gradient reaching r
    through resets.
    """
    L, B, D = x.shape
    H = W_H.shape[0]
    n = offsets.shape[0] - 1
    P = log_p.shape[0]
    O = W_O.shape[0]
    dtype = h_in.dtype
    dW_I = np.zeros((H, D), dtype=dtype)              # (H, D)
    dW_H = np.zeros((H, H), dtype=dtype)              # (H, H)
    db_H = np.zeros(H, dtype=dtype)                   # (H,)
    dW_mu = np.zeros(W_mu.shape, dtype=dtype)         # (n, H) or (0, H)
    dW_rho = np.zeros(W_rho.shape, dtype=dtype)       # (n, H) or (0, H)
    db_mu = np.zeros(n, dtype=dtype)                  # (n,)
    db_rho = np.zeros(n, dtype=dtype)                 # (n,)
    dr = np.zeros(H, dtype=dtype)                     # (H,)
    dx = np.zeros((L, B, D), dtype=dtype)             # (L, B, D)
    eps = eps_in.copy()                               # (B, H) gradient on the state after t
    hp = np.empty(H, dtype=dtype)                     # (H,) the state entering step t
    delta = np.empty(H, dtype=dtype)                  # (H,) total gradient on h_t
    da = np.empty(H, dtype=dtype)                     # (H,) gradient on a_t
    e_prev = np.empty(H, dtype=dtype)                 # (H,) gradient on the state read
    dmu = np.empty(n, dtype=dtype)                    # (n,)
    drho = np.empty(n, dtype=dtype)                   # (n,)
    m = np.empty(P, dtype=dtype)                      # (P,) the clock of each candidate
    for t in range(L - 1, -1, -1):
        for p in range(P):
            m[p] = 1.0 if (t0 + t) % cands[p] == 0 else 0.0
        for bb in range(B):
            if reset[t]:
                for k in range(H):
                    hp[k] = r[k]
            elif t == 0:
                for k in range(H):
                    hp[k] = h_in[bb, k]
            else:
                for k in range(H):
                    hp[k] = h[t - 1, bb, k]
            # total gradient on h_t: from y_t (W_O^T ybar_t) and from step t+1 (PB2)
            for k in range(H):
                delta[k] = 0.0
            for o in range(O):
                yv = dy[t, bb, o]
                wo = W_O[o]
                for k in range(H):
                    delta[k] += yv * wo[k]
            eb = eps[bb]
            for k in range(H):
                delta[k] += eb[k]
            for i in range(n):
                al = alpha[t, bb, i]
                dal = 0.0
                for k in range(offsets[i], offsets[i + 1]):
                    v = th[t, bb, k]
                    # backprop through tanh, scaled by the expected clock (PB3)
                    da[k] = delta[k] * al * (1 - v * v)
                    # gradient on the expected clock, summed over the module's units (PB4)
                    dal += delta[k] * (v - hp[k])
                    # the kept share (1 - alpha) of the state (PB8)
                    e_prev[k] = (1 - al) * delta[k]
                # back through the expectation over periods and the softmax (PB5), then the
                # Gaussian in log-period (PB6)
                mu_i = mu[t, bb, i]
                sig = sigma[t, bb, i]
                s_mu = 0.0
                s_sig = 0.0
                for p in range(P):
                    de = dal * w[t, bb, i, p] * (m[p] - al)
                    diff = log_p[p] - mu_i
                    s_mu += de * diff
                    s_sig += de * (diff * diff)
                dmu[i] = s_mu / (sig * sig)
                # back through sigma = tau softplus(rho) (PB7)
                drho[i] = s_sig / (sig * sig * sig) * tau * sigmoid_scalar(rho[t, bb, i])
                db_mu[i] += dmu[i]
                db_rho[i] += drho[i]
            # the recurrent path W_H^T abar into h_{t-1} (PB8), and the weight, bias and input
            # gradients (PB10), over the wired blocks only, row by row of abar
            xt = x[t, bb]
            dxt = dx[t, bb]
            for i in range(n):
                for q in range(offsets[i], offsets[i + 1]):
                    dq = da[q]
                    db_H[q] += dq
                    if R[i]:
                        wx = W_I[q]
                        gx = dW_I[q]
                        for d in range(D):
                            dxt[d] += dq * wx[d]
                            gx[d] += dq * xt[d]
                    wh = W_H[q]
                    gh = dW_H[q]
                    for j in range(n):
                        if C[i, j]:
                            for k in range(offsets[j], offsets[j + 1]):
                                e_prev[k] += dq * wh[k]
                                gh[k] += dq * hp[k]
            if emitted:
                # the emitted clock read the state too (PB8), and its maps' gradients (PB10)
                for i in range(n):
                    gm = dmu[i]
                    gr = drho[i]
                    wm = W_mu[i]
                    wr = W_rho[i]
                    dwm = dW_mu[i]
                    dwr = dW_rho[i]
                    for k in range(H):
                        e_prev[k] += gm * wm[k] + gr * wr[k]
                        dwm[k] += gm * hp[k]
                        dwr[k] += gr * hp[k]
            # a reset cuts the path to h_{t-1}; the replaced state was r (PB9)
            if reset[t]:
                for k in range(H):
                    dr[k] += e_prev[k]
                    eb[k] = 0.0
            else:
                for k in range(H):
                    eb[k] = e_prev[k]
    return dW_I, dW_H, db_H, dW_mu, db_mu, dW_rho, db_rho, dx, eps, dr
