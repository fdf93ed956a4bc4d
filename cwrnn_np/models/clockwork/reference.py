r"""The readable NumPy reference: Clockwork RNN forward pass and hand-derived BPTT.

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §3, with the design note's
wiring, routing and reset variants. Every line follows ``docs/model.md`` (forward, equations
M1–M6) and ``docs/bptt.md`` (backward, equations B1–B10); the equation tags in the comments name
them.

Shape letters: L time, B batch, D input, H hidden, O output, n modules.

These functions assume validated input; the public :func:`cwrnn_np.forward` and
:func:`cwrnn_np.backward` (:mod:`cwrnn_np.models.clockwork.api`) validate and then call them
(``backend="numpy"``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...params import fold_h0
from ...spec import ClockworkSpec

__all__ = ["ForwardCache", "forward_numpy", "backward_numpy"]


class ForwardCache(NamedTuple):
    """What the backward pass needs from the forward pass (named, never unpacked by position).

    Attributes
    ----------
    x : (L, B, D) the inputs.
    h_init : (B, H) the carried-in state :math:`h_{-1}` actually used.
    r : (H,) the reset state (:math:`h_0` if learned, else zeros).
    h : (L, B, H) the states :math:`h_t`.
    active : (L, H) bool, the clock expanded to units.
    reset : (L,) bool, ``reset[s]``: the state entering step s was replaced by r.
    t0 : the call's clock offset.
    h_init_given : whether the caller passed ``h_init`` (else it was r, and its gradient flows
        into :math:`h_0` when learned).
    backend : the backend that made the cache.
    """

    x: np.ndarray
    h_init: np.ndarray
    r: np.ndarray
    h: np.ndarray
    active: np.ndarray
    reset: np.ndarray
    t0: int
    h_init_given: bool
    backend: str

    @property
    def h_last(self) -> np.ndarray:
        """(B, H) the last state :math:`h_{L-1}`: pass it as ``h_init`` to the next chunk,
        together with ``t0 + L``."""
        return self.h[-1]


def masked_weights(params: dict, spec: ClockworkSpec):
    r"""Effective weights :math:`\tilde W_I = W_I \odot M_I`, :math:`\tilde W_H = W_H \odot M_H`.

    Applying the structural masks here (eq. M1) makes masked entries exact structural zeros: their
    value can never change y, and their gradient is exactly zero (eq. B9).
    """
    W_I = np.where(spec.M_I, params["W_I"], 0)  # (H, D)
    W_H = np.where(spec.M_H, params["W_H"], 0)  # (H, H)
    return W_I.astype(params["W_I"].dtype, copy=False), W_H.astype(params["W_H"].dtype, copy=False)


def reset_state(params: dict, spec: ClockworkSpec, dtype) -> np.ndarray:
    """r (H,): the learned :math:`h_0` if ``spec.learn_h0``, else zeros (eq. M5)."""
    if spec.learn_h0:
        return params["h_0"]
    return np.zeros(spec.hidden_size, dtype)


def forward_numpy(params: dict, spec: ClockworkSpec, x: np.ndarray, h_init, t0: int,
                  reset: np.ndarray):
    r"""Clockwork RNN forward pass over one sequence (chunk).

    Parameters
    ----------
    params : dict of arrays (see :mod:`cwrnn_np.params`)
    spec : ClockworkSpec
    x : (L, B, D) inputs
    h_init : (B, H) carried-in state, or None for r
    t0 : int clock offset
    reset : (L,) bool; ``reset[s]`` replaces the state entering step s by r

    Returns
    -------
    y : (L, B, O) outputs
    cache : ForwardCache

    Notes
    -----
    .. math::

        \tilde h_{t-1} &= r \text{ if } s_t \text{ else } h_{t-1}           && (M2) \\
        a_t &= \tilde W_I x_t + \tilde W_H \tilde h_{t-1} + b_H             && (M3) \\
        h_t[i] &= \tanh(a_t[i]) \text{ if } \chi_t[i] \text{ else } \tilde h_{t-1}[i] && (M4) \\
        y_t &= W_O h_t + b_O                                              && (M6)

    where :math:`\chi_t[i] = [(t_0 + t - \phi_i) \bmod T_i = 0]` is the clock, :math:`s_t` the reset
    flag, :math:`\tilde W = W \odot M` the structurally masked weights (M1), :math:`r` the reset
    state (M5) and :math:`h_{-1}` = ``h_init`` (default r).
    """
    L, B, _ = x.shape
    dtype = params["W_H"].dtype
    W_I, W_H = masked_weights(params, spec)                        # (M1)
    r = reset_state(params, spec, dtype)                           # (M5)
    h_in = np.broadcast_to(r, (B, spec.hidden_size)) if h_init is None else h_init  # (B, H)
    active = spec.active_units(L, t0)                              # (L, H) clock χ_t
    h = np.empty((L, B, spec.hidden_size), dtype)                  # (L, B, H)
    h_prev = h_in
    for t in range(L):
        if reset[t]:
            h_prev = np.broadcast_to(r, h_prev.shape)              # (M2) forget
        a = x[t] @ W_I.T + h_prev @ W_H.T + params["b_H"]           # (M3) (B, H)
        h[t] = np.where(active[t], np.tanh(a), h_prev)             # (M4) inactive: held bitwise
        h_prev = h[t]
    y = h @ params["W_O"].T + params["b_O"]                        # (M6) (L, B, O)
    cache = ForwardCache(x=x, h_init=np.array(h_in), r=r, h=h, active=active, reset=reset,
                         t0=t0, h_init_given=h_init is not None, backend="numpy")
    return y, cache


def backward_numpy(params: dict, spec: ClockworkSpec, dy: np.ndarray, cache: ForwardCache,
                   dh_last=None) -> dict:
    r"""Hand-derived BPTT for :func:`forward_numpy` (``docs/bptt.md``).

    Parameters
    ----------
    params, spec : as for the forward pass
    dy : (L, B, O) upstream gradient :math:`\partial \ell / \partial y_t`
    cache : ForwardCache from the forward pass
    dh_last : (B, H) or None, upstream gradient on the last state :math:`h_{L-1}` (from the next
        chunk's ``grads["h_init"]`` in truncated or chunked BPTT)

    Returns
    -------
    grads : dict with the keys of ``params`` plus ``"x"`` (L, B, D) and ``"h_init"`` (B, H)

    Notes
    -----
    With :math:`\delta_t = \partial \ell / \partial h_t` (total, from the output and the future):

    .. math::

        \delta_t &= W_O^\top \bar y_t + \epsilon_{t+1}                                && (B2) \\
        \bar a_t &= \chi_t \odot \delta_t \odot (1 - h_t^2)                             && (B3) \\
        \bar{\tilde h}_{t-1} &= (1 - \chi_t) \odot \delta_t + \tilde W_H^\top \bar a_t && (B4) \\
        \epsilon_t &= 0 \text{ if } s_t \text{ else } \bar{\tilde h}_{t-1}            && (B5)

    and the weight gradients are sums over t of outer products (B6–B9), masked by M.
    :math:`\bar y_t` is ``dy[t]``; :math:`\epsilon_t` is the gradient reaching :math:`h_{t-1}`
    from step t; :math:`\chi_t` is the clock and :math:`s_t` the reset flag.
    """
    x, h, active, reset = cache.x, cache.h, cache.active, cache.reset
    L, B, _ = x.shape
    W_I, W_H = masked_weights(params, spec)                         # (M1)
    W_O = params["W_O"]
    dtype = W_H.dtype
    # output layer (B1): y_t = W_O h_t + b_O
    dW_O = np.einsum("lbo,lbh->oh", dy, h)                          # (O, H)
    db_O = dy.sum(axis=(0, 1))                                      # (O,)
    dh_out = dy @ W_O                                               # (L, B, H)
    dW_I = np.zeros_like(W_I)
    dW_H = np.zeros_like(W_H)
    db_H = np.zeros(spec.hidden_size, dtype)
    dr = np.zeros(spec.hidden_size, dtype)
    dx = np.zeros_like(x)
    eps = np.zeros((B, spec.hidden_size), dtype) if dh_last is None else np.array(dh_last, dtype)
    for t in range(L - 1, -1, -1):
        # total gradient on h_t: from y_t and from step t+1 (B2)
        delta = dh_out[t] + eps                                     # (B, H)
        h_prev = cache.r if reset[t] else (cache.h_init if t == 0 else h[t - 1])
        h_prev = np.broadcast_to(h_prev, (B, spec.hidden_size))     # (B, H)
        # backprop through tanh, active modules only (B3)
        da = np.where(active[t], delta * (1 - h[t] * h[t]), 0)      # (B, H)
        # inactive modules: state and its gradient pass through unchanged (B4)
        dh_prev = np.where(active[t], 0, delta) + da @ W_H          # (B, H)
        # weight, bias and input gradients accumulate over steps (B6-B8)
        dW_H += da.T @ h_prev                                       # (H, H)
        dW_I += da.T @ x[t]                                         # (H, D)
        db_H += da.sum(axis=0)                                      # (H,)
        dx[t] = da @ W_I                                            # (B, D)
        # a reset cuts the path to h_{t-1}; the replaced state was r (B5)
        if reset[t]:
            dr += dh_prev.sum(axis=0)
            eps = np.zeros_like(eps)
        else:
            eps = dh_prev
    dh_init = eps                                                   # (B, H)
    # structural zeros get exactly zero gradient (B9)
    grads = {
        "W_I": np.where(spec.M_I, dW_I, 0).astype(dtype, copy=False),
        "W_H": np.where(spec.M_H, dW_H, 0).astype(dtype, copy=False),
        "b_H": db_H,
        "W_O": dW_O,
        "b_O": db_O,
        "x": dx,
        "h_init": dh_init,
    }
    if spec.learn_h0:
        # h_0 is the reset state, and also the initial state when no h_init was passed (B10)
        grads["h_0"] = fold_h0(dr, dh_init, cache.h_init_given)
    return grads
