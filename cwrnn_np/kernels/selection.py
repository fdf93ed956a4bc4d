r"""Numba kernels of the CW-RNN with soft selection among same-clock modules, one call per
sequence.

The design note's variant "multiple RNNs at same speed … blurry selection between them": a group
of K >= 2 modules sharing one period and phase is updated through a softmax over its modules
(Koutník et al., "A Clockwork RNN", ICML 2014, for the clockwork itself). The equations and
their tags (S1–S6 forward, SB1–SB9 backward) are those of the readable reference
:func:`cwrnn_np.selection.forward_select_numpy` / :func:`cwrnn_np.selection.backward_select_numpy`,
which these kernels reproduce to rounding (relative :math:`10^{-12}` norm-wise in float64).

Shape letters: L time, B batch, D input, H hidden, O output, n modules, S selection rows (one
per grouped module), Q groups.

Each kernel is a plain function compiled once, at import, with the options of
:mod:`cwrnn_np.kernels.config`; every array is an argument. The wrappers that validate, prepare
and call them are :func:`cwrnn_np.selection.forward_select_numba` and
:func:`cwrnn_np.selection.backward_select_numba`.

Only the clock's work is done: an inactive module is held bitwise (its state is copied, its
pre-activation and tanh are never computed, its gradient passes through unchanged), and the
selection logits and their softmax are computed only for the groups whose clock fires. The
structural masks reach the kernels as already-masked weights (:math:`\tilde W_I`,
:math:`\tilde W_H`, eq. M1); the wrapper zeroes the masked entries of their gradients.

The module layout arrives as small integer arrays:

* ``offsets`` (n + 1,): module i owns hidden units ``offsets[i]:offsets[i+1]``.
* ``active_mod`` (L, n) bool: the clock :math:`c_t` per module.
* ``module_row`` (n,): the selection row of module i (the index s with
  ``select_modules[s] = i``), or -1 for a module in no group (its update gate is 1).
* ``group_ptr`` (Q + 1,): group q owns selection rows ``group_ptr[q]:group_ptr[q+1]``;
  ``group_clock`` (Q,): one module of group q, whose clock is the group's.

As in :mod:`cwrnn_np.kernels.clockwork`, products are plain loops (``np.dot`` inside Numba needs
SciPy, which is not a dependency), with the innermost loop over contiguous memory: the
pre-activations of an active module are accumulated from rows of the transposed weights
(``W_IT`` (D, H), ``W_HT`` (H, H)) restricted to the module's units; the selection logits are
dot products with rows of ``W_S`` (S, D + H). The softmax subtracts its maximum before ``exp``.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .config import JIT_OPTIONS

__all__ = ["select_forward_kernel", "select_backward_kernel"]


@njit(**JIT_OPTIONS)
def select_forward_kernel(x, h_in, r, reset, active_mod, offsets, module_row, group_ptr,
                          group_clock, W_IT, W_HT, b_H, W_S, b_S, temperature, W_O, b_O):
    r"""Forward pass with soft selection over a whole sequence (equations S1–S6).

    Parameters
    ----------
    x : (L, B, D) inputs.
    h_in : (B, H) the carried-in state :math:`h_{-1}`.
    r : (H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (S1).
    active_mod : (L, n) bool, the clock per module.
    offsets : (n + 1,), module_row : (n,), group_ptr : (Q + 1,), group_clock : (Q,) int: the
        layout (module docstring).
    W_IT : (D, H), W_HT : (H, H) the masked input and recurrent weights, transposed.
    b_H : (H,) hidden biases.
    W_S : (S, D + H), b_S : (S,) the selection scores; temperature : float :math:`\tau > 0`.
    W_O : (O, H), b_O : (O,) the readout.

    Returns
    -------
    h : (L, B, H) the states :math:`h_t`.
    th : (L, B, H) :math:`\tanh(a_t)`, zero where the module is inactive.
    g : (L, B, S) the selection :math:`g_t`, zero where the group is inactive.
    y : (L, B, O) outputs.

    Notes
    -----
    Per step and batch row: the reset (S1); for each active module i, its pre-activations
    :math:`a_t[i] = b_H[i] + \tilde W_I[i] x_t + \tilde W_H[i] \tilde h_{t-1}` (S2) and their
    tanh; for each active group, the logits :math:`W_S^G [x_t; \tilde h_{t-1}] + b_S^G` and
    their softmax at temperature :math:`\tau` (S3); the update (S4, S5); the readout (S6).
    """
    L, B, D = x.shape
    H = h_in.shape[1]
    n = offsets.shape[0] - 1
    Q = group_ptr.shape[0] - 1
    S = W_S.shape[0]
    O = W_O.shape[0]
    dtype = h_in.dtype
    h = np.empty((L, B, H), dtype=dtype)              # (L, B, H)
    th = np.zeros((L, B, H), dtype=dtype)             # (L, B, H)
    g = np.zeros((L, B, S), dtype=dtype)              # (L, B, S)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    prev = h_in.copy()                                # (B, H) the state entering step t
    a_x = np.empty(H, dtype=dtype)                    # (H,) W_I x_t of the active units
    a_h = np.empty(H, dtype=dtype)                    # (H,) W_H h_{t-1} of the active units
    zt = np.empty(S, dtype=dtype)                     # (S,) logits / tau of the active groups
    for t in range(L):
        for bb in range(B):
            hp = prev[bb]
            if reset[t]:
                # (S1) forget: the state entering step t is r
                for k in range(H):
                    hp[k] = r[k]
            xt = x[t, bb]
            tht = th[t, bb]
            # pre-activations of the active modules only (S2)
            for i in range(n):
                if not active_mod[t, i]:
                    continue
                lo, hi = offsets[i], offsets[i + 1]
                for k in range(lo, hi):
                    a_x[k] = 0.0
                    a_h[k] = 0.0
                for d in range(D):
                    xv = xt[d]
                    w = W_IT[d]
                    for k in range(lo, hi):
                        a_x[k] += xv * w[k]
                for j in range(H):
                    hv = hp[j]
                    w = W_HT[j]
                    for k in range(lo, hi):
                        a_h[k] += hv * w[k]
                for k in range(lo, hi):
                    # the reference's order: (W_I x + W_H h) + b_H
                    tht[k] = math.tanh(a_x[k] + a_h[k] + b_H[k])
            # selection among the modules of each active group (S3)
            gt = g[t, bb]
            for q in range(Q):
                if not active_mod[t, group_clock[q]]:
                    continue
                lo, hi = group_ptr[q], group_ptr[q + 1]
                for s in range(lo, hi):
                    w = W_S[s]
                    acc = 0.0
                    for d in range(D):
                        acc += w[d] * xt[d]
                    for j in range(H):
                        acc += w[D + j] * hp[j]
                    zt[s] = (acc + b_S[s]) / temperature
                zmax = zt[lo]
                for s in range(lo + 1, hi):
                    if zt[s] > zmax:
                        zmax = zt[s]
                total = 0.0
                for s in range(lo, hi):
                    e = math.exp(zt[s] - zmax)
                    gt[s] = e
                    total += e
                for s in range(lo, hi):
                    gt[s] = gt[s] / total
            # (S4, S5) active modules move toward tanh(a) by their gate; inactive ones are held
            ht = h[t, bb]
            for i in range(n):
                lo, hi = offsets[i], offsets[i + 1]
                if not active_mod[t, i]:
                    for k in range(lo, hi):
                        ht[k] = hp[k]
                elif module_row[i] < 0:
                    for k in range(lo, hi):
                        ht[k] = tht[k]
                else:
                    u = gt[module_row[i]]
                    for k in range(lo, hi):
                        ht[k] = u * tht[k] + (1 - u) * hp[k]
            # readout (S6)
            for m in range(O):
                acc = 0.0
                w = W_O[m]
                for k in range(H):
                    acc += ht[k] * w[k]
                y[t, bb, m] = acc + b_O[m]
            for k in range(H):
                hp[k] = ht[k]
    return h, th, g, y


@njit(**JIT_OPTIONS)
def select_backward_kernel(x, h_in, r, h, th, g, reset, active_mod, offsets, module_row,
                           group_ptr, group_clock, W_I, W_H, W_S, temperature, dy, W_O, eps_in):
    r"""Hand-derived BPTT of the soft selection over a whole sequence (equations SB2–SB9).

    Parameters
    ----------
    x : (L, B, D) inputs; h_in : (B, H) the carried-in state; r : (H,) the reset state.
    h : (L, B, H), th : (L, B, H), g : (L, B, S) from the forward pass.
    reset : (L,) bool; active_mod : (L, n) bool, the clock per module.
    offsets, module_row, group_ptr, group_clock : the layout (module docstring).
    W_I : (H, D), W_H : (H, H) the masked weights; W_S : (S, D + H); temperature : float.
    dy : (L, B, O) upstream gradient on the outputs; W_O : (O, H).
    eps_in : (B, H) upstream gradient on the last state (``dh_last``, or zeros).

    Returns
    -------
    dW_I : (H, D), dW_H : (H, H) (not masked: the wrapper zeroes the structural zeros),
    db_H : (H,), dW_S : (S, D + H), db_S : (S,), dx : (L, B, D), dh_init : (B, H) the gradient
    on ``h_in``, dr : (H,) the gradient reaching r through resets.
    """
    L, B, D = x.shape
    H = h_in.shape[1]
    n = offsets.shape[0] - 1
    Q = group_ptr.shape[0] - 1
    S = W_S.shape[0]
    O = W_O.shape[0]
    dtype = h_in.dtype
    dW_I = np.zeros((H, D), dtype=dtype)              # (H, D)
    dW_H = np.zeros((H, H), dtype=dtype)              # (H, H)
    db_H = np.zeros(H, dtype=dtype)                   # (H,)
    dW_S = np.zeros((S, D + H), dtype=dtype)          # (S, D + H)
    db_S = np.zeros(S, dtype=dtype)                   # (S,)
    dr = np.zeros(H, dtype=dtype)                     # (H,)
    dx = np.zeros((L, B, D), dtype=dtype)             # (L, B, D)
    eps = eps_in.copy()                               # (B, H) gradient on the state after t
    hp = np.empty(H, dtype=dtype)                     # (H,) the state entering step t
    delta = np.empty(H, dtype=dtype)                  # (H,) total gradient on h_t
    da = np.empty(H, dtype=dtype)                     # (H,) gradient on a_t (active units)
    dg = np.empty(S, dtype=dtype)                     # (S,) gradient on g_t
    dz = np.empty(S, dtype=dtype)                     # (S,) gradient on the logits (active)
    e_prev = np.empty(H, dtype=dtype)                 # (H,) gradient on the state read
    for t in range(L - 1, -1, -1):
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
            # total gradient on h_t: from y_t (W_O^T ybar_t) and from step t+1 (SB2)
            for k in range(H):
                delta[k] = 0.0
            for m in range(O):
                yv = dy[t, bb, m]
                w = W_O[m]
                for k in range(H):
                    delta[k] += yv * w[k]
            eb = eps[bb]
            for k in range(H):
                delta[k] += eb[k]
            tht = th[t, bb]
            gt = g[t, bb]
            for s in range(S):
                dg[s] = 0.0
            for i in range(n):
                lo, hi = offsets[i], offsets[i + 1]
                if not active_mod[t, i]:
                    # inactive module: state and its gradient pass through unchanged
                    for k in range(lo, hi):
                        e_prev[k] = delta[k]
                    continue
                row = module_row[i]
                if row < 0:
                    # ungrouped: u = 1, nothing of the old state is kept
                    for k in range(lo, hi):
                        # backprop through tanh (SB3)
                        da[k] = delta[k] * (1 - tht[k] * tht[k])
                        e_prev[k] = 0.0
                else:
                    u = gt[row]
                    for k in range(lo, hi):
                        # backprop through tanh, scaled by the update gate (SB3)
                        da[k] = delta[k] * u * (1 - tht[k] * tht[k])
                        # the gate of a module is shared by its units (SB4, SB5)
                        dg[row] += delta[k] * (tht[k] - hp[k])
                        # the kept share (1 - u) of the old state (SB7, first term)
                        e_prev[k] = (1 - u) * delta[k]
            # back through the softmax and its temperature, active groups only (SB6)
            for q in range(Q):
                if not active_mod[t, group_clock[q]]:
                    continue
                lo, hi = group_ptr[q], group_ptr[q + 1]
                dot = 0.0
                for s in range(lo, hi):
                    dot += gt[s] * dg[s]
                for s in range(lo, hi):
                    dz[s] = gt[s] * (dg[s] - dot) / temperature
            xt = x[t, bb]
            dxt = dx[t, bb]
            # recurrent and input paths of the active units (SB7) and their gradients (SB9)
            for i in range(n):
                if not active_mod[t, i]:
                    continue
                for k in range(offsets[i], offsets[i + 1]):
                    dk = da[k]
                    db_H[k] += dk
                    wh = W_H[k]
                    gh = dW_H[k]
                    for j in range(H):
                        e_prev[j] += dk * wh[j]
                        gh[j] += dk * hp[j]
                    wx = W_I[k]
                    gx = dW_I[k]
                    for d in range(D):
                        dxt[d] += dk * wx[d]
                        gx[d] += dk * xt[d]
            # selection path of the active groups (SB7) and its gradients (SB9)
            for q in range(Q):
                if not active_mod[t, group_clock[q]]:
                    continue
                for s in range(group_ptr[q], group_ptr[q + 1]):
                    ds = dz[s]
                    db_S[s] += ds
                    w = W_S[s]
                    gw = dW_S[s]
                    for d in range(D):
                        dxt[d] += ds * w[d]
                        gw[d] += ds * xt[d]
                    for j in range(H):
                        e_prev[j] += ds * w[D + j]
                        gw[D + j] += ds * hp[j]
            # a reset cuts the path to h_{t-1}; the replaced state was r (SB8)
            if reset[t]:
                for k in range(H):
                    dr[k] += e_prev[k]
                    eb[k] = 0.0
            else:
                for k in range(H):
                    eb[k] = e_prev[k]
    return dW_I, dW_H, db_H, dW_S, db_S, dx, eps, dr
