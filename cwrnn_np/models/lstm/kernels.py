r"""Numba kernels of the LSTM baseline's forward pass and its BPTT, one call per sequence.

The comparison model of Koutník et al., "A Clockwork RNN", ICML 2014, §4 (an LSTM with
forget-gate bias 5), with Gers et al.'s optional peepholes. The equations and their tags (L0–L7
forward, LB1–LB10 backward) are those of ``docs/lstm.md`` and of the readable reference
:func:`cwrnn_np.models.lstm.forward_lstm_numpy` / :func:`cwrnn_np.models.lstm.backward_lstm_numpy`, which these
kernels reproduce to rounding (relative :math:`10^{-12}` norm-wise in float64).

Shape letters: L time, B batch, D input, H cells, O output; G = 4H gate pre-activations in the
order [i, f, o, g]; the state is :math:`s = [h; c]` (2H).

Each kernel is a plain function compiled once, at import, with the options of
:mod:`cwrnn_np.kernels.config`; every array is an argument. The wrappers that validate, prepare
and call them are :func:`cwrnn_np.models.lstm.forward_lstm_numba` and
:func:`cwrnn_np.models.lstm.backward_lstm_numba`.

As in :mod:`cwrnn_np.models.clockwork.kernels`, products are plain loops (``np.dot`` inside Numba needs
SciPy, which is not a dependency), written so that the innermost loop runs over contiguous
memory: the gate pre-activations are accumulated as rows of the transposed weights
(``W_xT`` (D, 4H), ``W_hT`` (H, 4H)), one multiply-add per input or state entry over all 4H
gates. Peepholes are passed as three (H,) arrays, or as three empty arrays when the spec has none
(the kernels then skip the peephole terms).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...kernels.config import JIT_OPTIONS
from ...kernels.special import sigmoid_scalar

__all__ = ["lstm_forward_kernel", "lstm_backward_kernel"]


@njit(**JIT_OPTIONS)
def lstm_forward_kernel(x, s_in, r, reset, W_xT, W_hT, b, p_i, p_f, p_o, W_O, b_O):
    r"""LSTM forward pass over a whole sequence (equations L0–L7).

    Parameters
    ----------
    x : (L, B, D) inputs.
    s_in : (B, 2H) the carried-in state :math:`[h_{-1}; c_{-1}]`.
    r : (2H,) the reset state.
    reset : (L,) bool, ``reset[t]``: the state entering step t is replaced by r (L0).
    W_xT : (D, 4H), W_hT : (H, 4H) the transposed input and recurrent weights.
    b : (4H,) gate biases.
    p_i, p_f, p_o : (H,) peepholes, or all three of length 0 (no peepholes).
    W_O : (O, H), b_O : (O,) the readout.

    Returns
    -------
    s : (L, B, 2H) the states :math:`[h_t; c_t]`.
    gates : (L, B, 4H) :math:`[i_t; f_t; o_t; g_t]`.
    tanh_c : (L, B, H) :math:`\tanh(c_t)`.
    y : (L, B, O) outputs.

    Notes
    -----
    Per step and batch row: :math:`z = b + W_x x_t + W_h \tilde h_{t-1}` (4H,), accumulated row
    by row of ``W_xT`` and ``W_hT``; then per cell k the gates (L1–L3, L5, with peepholes), the
    cell (L4), the output (L6); then the readout (L7).
    """
    L, B, D = x.shape
    H = W_hT.shape[0]
    G = 4 * H
    O = W_O.shape[0]
    dtype = s_in.dtype
    peep = p_i.shape[0] > 0
    s = np.empty((L, B, 2 * H), dtype=dtype)          # (L, B, 2H)
    gates = np.empty((L, B, G), dtype=dtype)          # (L, B, 4H)
    tanh_c = np.empty((L, B, H), dtype=dtype)         # (L, B, H)
    y = np.empty((L, B, O), dtype=dtype)              # (L, B, O)
    prev = s_in.copy()                                # (B, 2H) the state entering step t
    z = np.empty(G, dtype=dtype)                      # (4H,) pre-activations of one row
    for t in range(L):
        for bb in range(B):
            sp = prev[bb]
            if reset[t]:
                # (L0) forget: the state entering step t is r
                for q in range(2 * H):
                    sp[q] = r[q]
            # pre-activations z = b + W_x x_t + W_h h_{t-1} (L1-L3, L5)
            for q in range(G):
                z[q] = b[q]
            for d in range(D):
                xv = x[t, bb, d]
                w = W_xT[d]
                for q in range(G):
                    z[q] += xv * w[q]
            for k in range(H):
                hv = sp[k]
                w = W_hT[k]
                for q in range(G):
                    z[q] += hv * w[q]
            st = s[t, bb]
            gt = gates[t, bb]
            for k in range(H):
                c_prev = sp[H + k]
                z_i = z[k]
                z_f = z[H + k]
                z_o = z[2 * H + k]
                if peep:
                    z_i += p_i[k] * c_prev
                    z_f += p_f[k] * c_prev
                i = sigmoid_scalar(z_i)                       # (L1)
                f = sigmoid_scalar(z_f)                       # (L2)
                g = math.tanh(z[3 * H + k])                   # (L3)
                c = f * c_prev + i * g                        # (L4)
                if peep:
                    z_o += p_o[k] * c                         # peephole on the new cell
                o = sigmoid_scalar(z_o)                       # (L5)
                tc = math.tanh(c)
                st[k] = o * tc                                # (L6)
                st[H + k] = c
                gt[k] = i
                gt[H + k] = f
                gt[2 * H + k] = o
                gt[3 * H + k] = g
                tanh_c[t, bb, k] = tc
            # readout (L7)
            for m in range(O):
                acc = 0.0
                w = W_O[m]
                for k in range(H):
                    acc += st[k] * w[k]
                y[t, bb, m] = acc + b_O[m]
            for q in range(2 * H):
                sp[q] = st[q]
    return s, gates, tanh_c, y


@njit(**JIT_OPTIONS)
def lstm_backward_kernel(x, s_in, r, s, gates, tanh_c, reset, W_x, W_h, p_i, p_f, p_o, dy, W_O,
                         eps_in):
    r"""Hand-derived LSTM BPTT over a whole sequence (equations LB2–LB9).

    Parameters
    ----------
    x : (L, B, D) inputs; s_in : (B, 2H) the carried-in state; r : (2H,) the reset state.
    s : (L, B, 2H), gates : (L, B, 4H), tanh_c : (L, B, H) from the forward pass.
    reset : (L,) bool.
    W_x : (4H, D), W_h : (4H, H) weights; p_i, p_f, p_o : (H,) peepholes or all length 0.
    dy : (L, B, O) upstream gradient on the outputs; W_O : (O, H).
    eps_in : (B, 2H) upstream gradient on the last state (``dh_last``, or zeros).

    Returns
    -------
    dW_x : (4H, D), dW_h : (4H, H), db : (4H,), dp_i, dp_f, dp_o : (H,) (zeros without
    peepholes), dx : (L, B, D), dh_init : (B, 2H) the gradient on ``s_in``, dr : (2H,) the
    gradient reaching r through resets.
    """
    L, B, D = x.shape
    H = W_h.shape[1]
    G = 4 * H
    O = W_O.shape[0]
    dtype = s_in.dtype
    peep = p_i.shape[0] > 0
    dW_x = np.zeros((G, D), dtype=dtype)              # (4H, D)
    dW_h = np.zeros((G, H), dtype=dtype)              # (4H, H)
    db = np.zeros(G, dtype=dtype)                     # (4H,)
    dp_i = np.zeros(H, dtype=dtype)
    dp_f = np.zeros(H, dtype=dtype)
    dp_o = np.zeros(H, dtype=dtype)
    dr = np.zeros(2 * H, dtype=dtype)                 # (2H,)
    dx = np.zeros((L, B, D), dtype=dtype)             # (L, B, D)
    eps = eps_in.copy()                               # (B, 2H) gradient on the state after t
    sp = np.empty(2 * H, dtype=dtype)                 # (2H,) the state entering step t
    dh = np.empty(H, dtype=dtype)                     # (H,) total gradient on h_t
    dz = np.empty(G, dtype=dtype)                     # (4H,) gradient on the pre-activations
    e_prev = np.empty(2 * H, dtype=dtype)             # (2H,) gradient on the state read
    for t in range(L - 1, -1, -1):
        for bb in range(B):
            if reset[t]:
                for q in range(2 * H):
                    sp[q] = r[q]
            elif t == 0:
                for q in range(2 * H):
                    sp[q] = s_in[bb, q]
            else:
                for q in range(2 * H):
                    sp[q] = s[t - 1, bb, q]
            # total gradient on h_t: from y_t (W_O^T ybar_t) and from step t+1 (LB2)
            for k in range(H):
                dh[k] = 0.0
            for m in range(O):
                yv = dy[t, bb, m]
                w = W_O[m]
                for k in range(H):
                    dh[k] += yv * w[k]
            eb = eps[bb]
            for k in range(H):
                dh[k] += eb[k]
            gt = gates[t, bb]
            for k in range(H):
                i = gt[k]
                f = gt[H + k]
                o = gt[2 * H + k]
                g = gt[3 * H + k]
                tc = tanh_c[t, bb, k]
                c_prev = sp[H + k]
                # through h_t = o tanh(c_t) into the output gate (LB3)
                dz_o = dh[k] * tc * o * (1 - o)
                # total gradient on c_t: step t+1, tanh(c_t), o's peephole (LB4)
                dc = eb[H + k] + dh[k] * o * (1 - tc * tc)
                if peep:
                    dc += p_o[k] * dz_o
                # through c_t = f c_{t-1} + i g into the gates (LB5)
                dz_i = dc * g * i * (1 - i)
                dz_f = dc * c_prev * f * (1 - f)
                dz[k] = dz_i
                dz[H + k] = dz_f
                dz[2 * H + k] = dz_o
                dz[3 * H + k] = dc * i * (1 - g * g)
                # into c_{t-1}: the forget gate and the peepholes (LB6)
                dc_prev = dc * f
                if peep:
                    dc_prev += p_i[k] * dz_i + p_f[k] * dz_f
                    # peephole gradients: i and f read c_{t-1}, o reads c_t (LB8)
                    dp_i[k] += dz_i * c_prev
                    dp_f[k] += dz_f * c_prev
                    dp_o[k] += dz_o * s[t, bb, H + k]
                e_prev[H + k] = dc_prev
                e_prev[k] = 0.0
            # into h_{t-1} (LB6) and the weight, bias, input gradients (LB7), row by row of dz
            xt = x[t, bb]
            dxt = dx[t, bb]
            for q in range(G):
                dq = dz[q]
                db[q] += dq
                wh = W_h[q]
                gh = dW_h[q]
                for k in range(H):
                    e_prev[k] += dq * wh[k]
                    gh[k] += dq * sp[k]
                wx = W_x[q]
                gx = dW_x[q]
                for d in range(D):
                    dxt[d] += dq * wx[d]
                    gx[d] += dq * xt[d]
            # a reset cuts the path to s_{t-1}; the replaced state was r (LB9)
            if reset[t]:
                for q in range(2 * H):
                    dr[q] += e_prev[q]
                    eb[q] = 0.0
            else:
                for q in range(2 * H):
                    eb[q] = e_prev[q]
    return dW_x, dW_h, db, dp_i, dp_f, dp_o, dx, eps, dr
