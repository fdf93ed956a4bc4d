r"""The LSTM's readable NumPy reference: forward pass and hand-derived BPTT.

Every line of :func:`forward_lstm_numpy` follows ``docs/lstm.md`` (forward, equations L0–L7) and
every line of :func:`backward_lstm_numpy` its derivation (LB1–LB10); the equation tags in the
comments name them.

The carried state is one array :math:`[h_t; c_t]` of width 2H, so the LSTM has the API of
the CW-RNN: ``h_init`` (B, 2H), resets, chunked runs through ``cache.h_last``,
``grads["h_init"]`` (B, 2H) and ``dh_last`` (B, 2H). ``t0`` is accepted and ignored: an LSTM
has no clock.

Shape letters: L time, B batch, D input, H hidden (cells), O output; 4H is the four gate blocks
in the order [i, f, o, g], 2H the state [h; c].

These functions assume validated input; :func:`cwrnn_np.models.lstm.forward_lstm` and
:func:`cwrnn_np.models.lstm.backward_lstm` validate and then call them (``backend="numpy"``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...activations import sigmoid
from ...params import fold_h0
from .spec import LSTMSpec

__all__ = ["LSTMCache", "reset_state", "forward_lstm_numpy", "backward_lstm_numpy"]


class LSTMCache(NamedTuple):
    r"""What the LSTM backward pass needs from the forward pass (named, never unpacked by position).

    Attributes
    ----------
    x : (L, B, D) the inputs.
    h_init : (B, 2H) the carried-in state :math:`s_{-1} = [h_{-1}; c_{-1}]` actually used.
    r : (2H,) the reset state (:math:`h_0` if learned, else zeros).
    h : (L, B, 2H) the states :math:`[h_t; c_t]`.
    gates : (L, B, 4H) the gate activations :math:`[i_t; f_t; o_t; g_t]` (after σ and tanh).
    tanh_c : (L, B, H) :math:`\tanh(c_t)`.
    reset : (L,) bool, ``reset[s]``: the state entering step s was replaced by r.
    t0 : the call's t0 (unused: an LSTM has no clock; kept for the CW-RNN's API).
    h_init_given : whether the caller passed ``h_init`` (else it was r, and its gradient flows
        into :math:`h_0` when learned).
    backend : the backend that made the cache.
    """

    x: np.ndarray
    h_init: np.ndarray
    r: np.ndarray
    h: np.ndarray
    gates: np.ndarray
    tanh_c: np.ndarray
    reset: np.ndarray
    t0: int
    h_init_given: bool
    backend: str

    @property
    def h_last(self) -> np.ndarray:
        """(B, 2H) the last state :math:`[h_{L-1}; c_{L-1}]`: pass it as ``h_init`` to the
        next chunk."""
        return self.h[-1]


def reset_state(params: dict, spec: LSTMSpec, dtype) -> np.ndarray:
    """r (2H,): the learned :math:`h_0` if ``spec.learn_h0``, else zeros (eq. L0)."""
    if spec.learn_h0:
        return params["h_0"]
    return np.zeros(spec.state_size, dtype)


def forward_lstm_numpy(params: dict, spec: LSTMSpec, x: np.ndarray, h_init, t0: int,
                       reset: np.ndarray):
    r"""LSTM forward pass over one sequence (chunk), the readable reference.

    Parameters
    ----------
    params : dict of arrays (see :func:`init_lstm_params`)
    spec : LSTMSpec
    x : (L, B, D) inputs
    h_init : (B, 2H) carried-in state :math:`[h_{-1}; c_{-1}]`, or None for r
    t0 : int, ignored (no clock)
    reset : (L,) bool; ``reset[s]`` replaces the state entering step s by r

    Returns
    -------
    y : (L, B, O) outputs
    cache : LSTMCache

    Notes
    -----
    .. math::

        [\tilde h_{t-1}; \tilde c_{t-1}] &= r \text{ if } s_t \text{ else } [h_{t-1}; c_{t-1}]
            && (L0) \\
        i_t &= \sigma(W_x^i x_t + W_h^i \tilde h_{t-1} + p_i \odot \tilde c_{t-1} + b_i) && (L1) \\
        f_t &= \sigma(W_x^f x_t + W_h^f \tilde h_{t-1} + p_f \odot \tilde c_{t-1} + b_f) && (L2) \\
        g_t &= \tanh(W_x^g x_t + W_h^g \tilde h_{t-1} + b_g)                        && (L3) \\
        c_t &= f_t \odot \tilde c_{t-1} + i_t \odot g_t                              && (L4) \\
        o_t &= \sigma(W_x^o x_t + W_h^o \tilde h_{t-1} + p_o \odot c_t + b_o)        && (L5) \\
        h_t &= o_t \odot \tanh(c_t)                                                  && (L6) \\
        y_t &= W_O h_t + b_O                                                         && (L7)

    where :math:`W^k_x, W^k_h, b_k` are the gate-k blocks (rows kH..(k+1)H) of ``W_x``, ``W_h``,
    ``b`` in the order i, f, o, g; :math:`p_\cdot = 0` without peepholes; :math:`s_t` is the
    reset flag, r the reset state and :math:`[h_{-1}; c_{-1}]` = ``h_init`` (default r). The
    output gate's peephole reads the new cell :math:`c_t`, as in Gers et al.
    """
    L, B, _ = x.shape
    H = spec.hidden_size
    dtype = params["W_h"].dtype
    W_x, W_h, b = params["W_x"], params["W_h"], params["b"]
    r = reset_state(params, spec, dtype)                           # (L0) (2H,)
    s_in = np.broadcast_to(r, (B, 2 * H)) if h_init is None else h_init  # (B, 2H)
    s = np.empty((L, B, 2 * H), dtype)                             # (L, B, 2H) [h; c]
    gates = np.empty((L, B, 4 * H), dtype)                         # (L, B, 4H) [i; f; o; g]
    tanh_c = np.empty((L, B, H), dtype)                            # (L, B, H)
    s_prev = s_in
    for t in range(L):
        if reset[t]:
            s_prev = np.broadcast_to(r, s_prev.shape)              # (L0) forget
        h_prev, c_prev = s_prev[:, :H], s_prev[:, H:]              # (B, H) each
        z = x[t] @ W_x.T + h_prev @ W_h.T + b                      # (B, 4H) pre-activations
        z_i, z_f, z_o, z_g = z[:, :H], z[:, H:2 * H], z[:, 2 * H:3 * H], z[:, 3 * H:]
        if spec.peepholes:
            z_i = z_i + params["p_i"] * c_prev
            z_f = z_f + params["p_f"] * c_prev
        i = sigmoid(z_i)                                           # (L1)
        f = sigmoid(z_f)                                           # (L2)
        g = np.tanh(z_g)                                           # (L3)
        c = f * c_prev + i * g                                     # (L4)
        if spec.peepholes:
            z_o = z_o + params["p_o"] * c                          # peephole on the new cell
        o = sigmoid(z_o)                                           # (L5)
        tc = np.tanh(c)
        s[t, :, :H] = o * tc                                       # (L6)
        s[t, :, H:] = c
        gates[t] = np.concatenate([i, f, o, g], axis=1)            # (B, 4H)
        tanh_c[t] = tc
        s_prev = s[t]
    y = s[:, :, :H] @ params["W_O"].T + params["b_O"]              # (L7) (L, B, O)
    cache = LSTMCache(x=x, h_init=np.array(s_in), r=r, h=s, gates=gates, tanh_c=tanh_c,
                      reset=reset, t0=t0, h_init_given=h_init is not None, backend="numpy")
    return y, cache


def backward_lstm_numpy(params: dict, spec: LSTMSpec, dy: np.ndarray, cache: LSTMCache,
                        dh_last=None) -> dict:
    r"""Hand-derived BPTT for :func:`forward_lstm_numpy` (``docs/lstm.md``, LB1–LB10).

    Parameters
    ----------
    params, spec : as for the forward pass
    dy : (L, B, O) upstream gradient :math:`\partial \ell / \partial y_t`
    cache : LSTMCache from either backend's forward pass
    dh_last : (B, 2H) or None, upstream gradient on the last state :math:`[h_{L-1}; c_{L-1}]`

    Returns
    -------
    grads : dict with the keys of ``params`` plus ``"x"`` (L, B, D) and ``"h_init"`` (B, 2H)

    Notes
    -----
    With :math:`\delta^h_t, \delta^c_t` the total gradients on :math:`h_t, c_t` and
    :math:`\bar z^k_t` those on the gate pre-activations:

    .. math::

        \delta^h_t &= W_O^\top \bar y_t + \epsilon^h_{t+1}                          && (LB2) \\
        \bar z^o_t &= \delta^h_t \odot \tanh(c_t) \odot o_t (1 - o_t)                && (LB3) \\
        \delta^c_t &= \epsilon^c_{t+1} + \delta^h_t \odot o_t \odot (1 - \tanh^2 c_t)
            + p_o \odot \bar z^o_t                                                   && (LB4) \\
        \bar z^i_t &= \delta^c_t \odot g_t \odot i_t (1 - i_t), \quad
        \bar z^f_t = \delta^c_t \odot \tilde c_{t-1} \odot f_t (1 - f_t), \quad
        \bar z^g_t = \delta^c_t \odot i_t \odot (1 - g_t^2)                          && (LB5) \\
        \bar{\tilde h}_{t-1} &= W_h^\top \bar z_t, \quad
        \bar{\tilde c}_{t-1} = f_t \odot \delta^c_t + p_i \odot \bar z^i_t
            + p_f \odot \bar z^f_t                                                   && (LB6) \\
        \epsilon_t &= 0 \text{ if } s_t \text{ else } [\bar{\tilde h}_{t-1}; \bar{\tilde c}_{t-1}]
            && (LB9)

    and the weight, bias, input and peephole gradients are sums over t (LB7, LB8).
    :math:`\bar y_t` is ``dy[t]``, :math:`\bar z_t = [\bar z^i; \bar z^f; \bar z^o; \bar z^g]`,
    :math:`\epsilon_{L} = ` ``dh_last``.
    """
    x, s, gates, tanh_c, reset = cache.x, cache.h, cache.gates, cache.tanh_c, cache.reset
    L, B, _ = x.shape
    H = spec.hidden_size
    W_x, W_h, W_O = params["W_x"], params["W_h"], params["W_O"]
    dtype = W_h.dtype
    zeros_H = np.zeros(H, dtype)
    p_i = params["p_i"] if spec.peepholes else zeros_H
    p_f = params["p_f"] if spec.peepholes else zeros_H
    p_o = params["p_o"] if spec.peepholes else zeros_H
    h = s[:, :, :H]                                                 # (L, B, H)
    # output layer (LB1): y_t = W_O h_t + b_O
    dW_O = np.einsum("lbo,lbh->oh", dy, h)                          # (O, H)
    db_O = dy.sum(axis=(0, 1))                                      # (O,)
    dh_out = dy @ W_O                                               # (L, B, H)
    dW_x = np.zeros_like(W_x)
    dW_h = np.zeros_like(W_h)
    db = np.zeros(4 * H, dtype)
    dp_i, dp_f, dp_o = (np.zeros(H, dtype) for _ in range(3))
    dr = np.zeros(2 * H, dtype)
    dx = np.zeros_like(x)
    eps = np.zeros((B, 2 * H), dtype) if dh_last is None else np.array(dh_last, dtype)
    for t in range(L - 1, -1, -1):
        s_prev = cache.r if reset[t] else (cache.h_init if t == 0 else s[t - 1])
        s_prev = np.broadcast_to(s_prev, (B, 2 * H))                # (B, 2H)
        h_prev, c_prev = s_prev[:, :H], s_prev[:, H:]               # (B, H) each
        i, f = gates[t, :, :H], gates[t, :, H:2 * H]                # (B, H) each
        o, g = gates[t, :, 2 * H:3 * H], gates[t, :, 3 * H:]
        tc = tanh_c[t]                                              # (B, H)
        # total gradient on h_t: from y_t and from step t+1 (LB2)
        dh = dh_out[t] + eps[:, :H]                                 # (B, H)
        # backprop through h_t = o_t tanh(c_t) into the output gate's sigmoid (LB3)
        dz_o = dh * tc * o * (1 - o)                                # (B, H)
        # total gradient on c_t: from step t+1, through tanh(c_t), through o's peephole (LB4)
        dc = eps[:, H:] + dh * o * (1 - tc * tc) + p_o * dz_o       # (B, H)
        # backprop through c_t = f c_{t-1} + i g into the gates' nonlinearities (LB5)
        dz_i = dc * g * i * (1 - i)                                 # (B, H)
        dz_f = dc * c_prev * f * (1 - f)                            # (B, H)
        dz_g = dc * i * (1 - g * g)                                 # (B, H)
        dz = np.concatenate([dz_i, dz_f, dz_o, dz_g], axis=1)       # (B, 4H)
        # into the state that step t read: W_h to h, the forget gate and peepholes to c (LB6)
        dh_prev = dz @ W_h                                          # (B, H)
        dc_prev = dc * f + p_i * dz_i + p_f * dz_f                  # (B, H)
        # weight, bias and input gradients accumulate over steps (LB7)
        dW_x += dz.T @ x[t]                                         # (4H, D)
        dW_h += dz.T @ h_prev                                       # (4H, H)
        db += dz.sum(axis=0)                                        # (4H,)
        dx[t] = dz @ W_x                                            # (B, D)
        # peephole gradients: i and f read c_{t-1}, o reads c_t (LB8)
        dp_i += (dz_i * c_prev).sum(axis=0)                         # (H,)
        dp_f += (dz_f * c_prev).sum(axis=0)                         # (H,)
        dp_o += (dz_o * s[t, :, H:]).sum(axis=0)                    # (H,)
        # a reset cuts the path to [h_{t-1}; c_{t-1}]; the replaced state was r (LB9)
        eps_prev = np.concatenate([dh_prev, dc_prev], axis=1)       # (B, 2H)
        if reset[t]:
            dr += eps_prev.sum(axis=0)
            eps = np.zeros_like(eps)
        else:
            eps = eps_prev
    dh_init = eps                                                   # (B, 2H)
    grads = {"W_x": dW_x, "W_h": dW_h, "b": db}
    if spec.peepholes:
        grads.update(p_i=dp_i, p_f=dp_f, p_o=dp_o)
    grads.update(W_O=dW_O, b_O=db_O, x=dx, h_init=dh_init)
    if spec.learn_h0:
        grads["h_0"] = fold_h0(dr, dh_init, cache.h_init_given)    # (LB10)
    return grads
