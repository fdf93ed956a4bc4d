r"""Soft ("blurry") selection among several modules that share one clock: the design note's
"multiple RNNs at same speed … blurry selection between them … something like hierarchical RNNs".

A *group* is K >= 2 modules with the same period and phase. At a step where the group's clock
fires, a selection distribution over its K modules decides how much each one updates; the other
modules of the network follow the ordinary clockwork rule, and everything else (wiring,
routing, resets, :math:`h_0`) is the CW-RNN's (``docs/model.md``). Forward equations S1–S6 and
BPTT SB1–SB9 are derived in ``docs/variants.md``; the tags in the comments name them.

.. math::

    \tilde h_{t-1} &= r \text{ if } s_t \text{ else } h_{t-1}                          && (S1) \\
    a_t &= \tilde W_I x_t + \tilde W_H \tilde h_{t-1} + b_H                            && (S2) \\
    z_t^G &= W_S^G [x_t; \tilde h_{t-1}] + b_S^G, \quad
        g_t^G = \operatorname{softmax}(z_t^G / \tau)                                  && (S3) \\
    u_t[k] &= \chi_t[k] \cdot (g_t^G[k] \text{ if } k \in G \text{ else } 1)              && (S4) \\
    h_t[k] &= u_t[k] \tanh(a_t[k]) + (1 - u_t[k]) \tilde h_{t-1}[k]
        \text{ if } \chi_t[k] \text{ else } \tilde h_{t-1}[k]                            && (S5) \\
    y_t &= W_O h_t + b_O                                                               && (S6)

where G is a group, :math:`\chi_t[k]` the clock of module k, :math:`\tau > 0` the temperature
(:attr:`SelectionSpec.temperature`, annealed by the trainer with ``model.temperature_end``) and
:math:`u_t[k]` the update gate of module k (shared by its units). Modules outside groups have
:math:`u = \chi`, so they are exactly the CW-RNN's; an inactive module is held bitwise.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, S selection rows (one
per grouped module), K modules in a group.

These functions are the readable reference and assume validated input;
:func:`cwrnn_np.models.selection.forward_select` and
:func:`cwrnn_np.models.selection.backward_select` validate and then call them
(``backend="numpy"``).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...activations import softmax
from ...params import fold_h0
from ..clockwork.reference import masked_weights, reset_state
from .spec import SelectionSpec

__all__ = ["SelectionCache", "forward_select_numpy", "backward_select_numpy"]


class SelectionCache(NamedTuple):
    """What the backward pass needs from the forward pass.

    Attributes
    ----------
    x : (L, B, D) inputs; h_init : (B, H) the carried-in state used; r : (H,) reset state.
    h : (L, B, H) states :math:`h_t`; th : (L, B, H) :math:`\\tanh(a_t)` (zero where inactive).
    g : (L, B, S) the selection :math:`g_t` (zero where the group is inactive).
    active : (L, H) bool, the clock per unit; reset : (L,) bool; t0 : the clock offset.
    h_init_given : whether the caller passed ``h_init``; backend : who made the cache.
    """

    x: np.ndarray
    h_init: np.ndarray
    r: np.ndarray
    h: np.ndarray
    th: np.ndarray
    g: np.ndarray
    active: np.ndarray
    reset: np.ndarray
    t0: int
    h_init_given: bool
    backend: str

    @property
    def h_last(self) -> np.ndarray:
        """(B, H) the last state; pass it as ``h_init`` to the next chunk with ``t0 + L``."""
        return self.h[-1]


def forward_select_numpy(params: dict, spec: SelectionSpec, x: np.ndarray, h_init, t0: int,
                         reset: np.ndarray):
    r"""Forward pass with soft selection (equations S1–S6 of the module docstring).

    Parameters
    ----------
    params : dict, the base CW-RNN's arrays plus ``W_S`` (S, D + H) and ``b_S`` (S,)
    spec : SelectionSpec
    x : (L, B, D) inputs; h_init : (B, H) or None (the reset state r)
    t0 : int clock offset; reset : (L,) bool, ``reset[s]`` replaces the state entering step s

    Returns
    -------
    y : (L, B, O) outputs; cache : SelectionCache
    """
    L, B, D = x.shape
    H = spec.hidden_size
    dtype = params["W_H"].dtype
    W_I, W_H = masked_weights(params, spec.base)                  # (M1)
    r = reset_state(params, spec.base, dtype)
    h_in = np.broadcast_to(r, (B, H)) if h_init is None else h_init
    active_mod = spec.base.active(L, t0)                            # (L, n) clock χ_t
    active = np.repeat(active_mod, spec.module_sizes, axis=1)       # (L, H)
    unit_row = _unit_rows(spec)                                     # (H,) selection row or -1
    grouped = unit_row >= 0                                         # (H,)
    h = np.empty((L, B, H), dtype)
    th = np.zeros((L, B, H), dtype)
    g = np.zeros((L, B, len(spec.select_modules)), dtype)
    h_prev = h_in
    for t in range(L):
        if reset[t]:
            h_prev = np.broadcast_to(r, h_prev.shape)                # (S1) forget
        a = x[t] @ W_I.T + h_prev @ W_H.T + params["b_H"]            # (S2) (B, H)
        th[t] = np.where(active[t], np.tanh(a), 0)
        xh = np.concatenate([x[t], h_prev], axis=1)                 # (B, D + H)
        for q in range(len(spec.groups)):
            rows = slice(spec.group_ptr[q], spec.group_ptr[q + 1])
            if active_mod[t, spec.groups[q][0]]:
                z = xh @ params["W_S"][rows].T + params["b_S"][rows]  # (S3) (B, K)
                g[t][:, rows] = softmax(z / spec.temperature)
        # (S4) the update gate: g for grouped units, 1 for the others
        u = np.where(grouped, g[t][:, np.maximum(unit_row, 0)], 1.0)   # (B, H)
        # (S5) active modules move toward tanh(a) by u; inactive ones are held bitwise
        h[t] = np.where(active[t], u * th[t] + (1 - u) * h_prev, h_prev)
        h_prev = h[t]
    y = h @ params["W_O"].T + params["b_O"]                        # (S6) (L, B, O)
    cache = SelectionCache(x=x, h_init=np.array(h_in), r=r, h=h, th=th, g=g, active=active,
                           reset=reset, t0=t0, h_init_given=h_init is not None, backend="numpy")
    return y, cache


def _unit_rows(spec: SelectionSpec) -> np.ndarray:
    """(H,) int: for each hidden unit, the selection row of its module, or -1 if ungrouped."""
    row_of_module = np.full(spec.n_modules, -1, dtype=np.int64)
    row_of_module[spec.select_modules] = np.arange(len(spec.select_modules))
    return np.repeat(row_of_module, spec.module_sizes)


def backward_select_numpy(params: dict, spec: SelectionSpec, dy: np.ndarray,
                          cache: SelectionCache, dh_last=None) -> dict:
    r"""Hand-derived BPTT for :func:`forward_select_numpy` (``docs/variants.md``, SB1–SB9).

    Parameters
    ----------
    params, spec : as for the forward pass
    dy : (L, B, O) upstream gradient; cache : SelectionCache
    dh_last : (B, H) or None, upstream gradient on the last state

    Returns
    -------
    grads : dict with the keys of ``params`` plus ``"x"`` (L, B, D) and ``"h_init"`` (B, H)

    Notes
    -----
    With :math:`\delta_t = \partial\ell/\partial h_t` and :math:`v_t = \tanh(a_t)`, at an
    active unit k:

    .. math::

        \delta_t &= W_O^\top \bar y_t + \epsilon_{t+1}                              && (SB2) \\
        \bar a_t &= \delta_t \odot u_t \odot (1 - v_t^2)                            && (SB3) \\
        \bar u_t &= \delta_t \odot (v_t - \tilde h_{t-1})                           && (SB4) \\
        \bar g_t^G[j] &= \textstyle\sum_{k \in \text{module } j} \bar u_t[k]         && (SB5) \\
        \bar z_t^G &= \tfrac{1}{\tau}\, g_t^G \odot (\bar g_t^G - \langle g_t^G, \bar g_t^G
            \rangle)                                                                && (SB6) \\
        \bar{\tilde h}_{t-1} &= (1 - u_t) \odot \delta_t + \tilde W_H^\top \bar a_t
            + (W_S^G)_{:, h}^\top \bar z_t^G                                         && (SB7)

    (inactive units pass :math:`\delta_t` through unchanged), :math:`\epsilon_t` is
    :math:`\bar{\tilde h}_{t-1}`, or 0 after a reset (SB8), and the weight gradients are sums
    of outer products over t (SB9): :math:`\bar W_S^G = \sum_t \bar z_t^{G\top}
    [x_t; \tilde h_{t-1}]`.
    """
    x, h, th, g, active, reset = cache.x, cache.h, cache.th, cache.g, cache.active, cache.reset
    L, B, D = x.shape
    H = spec.hidden_size
    W_I, W_H = masked_weights(params, spec.base)
    W_S = params["W_S"]
    dtype = W_H.dtype
    unit_row = _unit_rows(spec)
    grouped = unit_row >= 0
    S = len(spec.select_modules)
    # output layer (SB1): y_t = W_O h_t + b_O
    dW_O = np.einsum("lbo,lbh->oh", dy, h)                          # (O, H)
    db_O = dy.sum(axis=(0, 1))                                      # (O,)
    dh_out = dy @ params["W_O"]                                     # (L, B, H)
    dW_I, dW_H = np.zeros_like(W_I), np.zeros_like(W_H)
    db_H, dr = np.zeros(H, dtype), np.zeros(H, dtype)
    dW_S, db_S = np.zeros_like(W_S), np.zeros(S, dtype)
    dx = np.zeros_like(x)
    eps = np.zeros((B, H), dtype) if dh_last is None else np.array(dh_last, dtype)
    for t in range(L - 1, -1, -1):
        # total gradient on h_t: from y_t and from step t+1 (SB2)
        delta = dh_out[t] + eps                                     # (B, H)
        h_prev = cache.r if reset[t] else (cache.h_init if t == 0 else h[t - 1])
        h_prev = np.broadcast_to(h_prev, (B, H))                    # (B, H)
        u = np.where(grouped, g[t][:, np.maximum(unit_row, 0)], 1.0)   # (B, H) (S4)
        # backprop through tanh, scaled by the update gate, active units only (SB3)
        da = np.where(active[t], delta * u * (1 - th[t] * th[t]), 0)
        # gradient on the gate: how far the update moved the state (SB4)
        du = np.where(active[t] & grouped, delta * (th[t] - h_prev), 0)
        # the gate of a module is shared by its units (SB5)
        dg = np.zeros((B, S), dtype)
        np.add.at(dg.T, unit_row[grouped], du[:, grouped].T)
        # back through the softmax and its temperature, active groups only (SB6)
        dz = np.zeros((B, S), dtype)
        for q in range(len(spec.groups)):
            rows = slice(spec.group_ptr[q], spec.group_ptr[q + 1])
            gq = g[t][:, rows]                                      # (B, K)
            dz[:, rows] = gq * (dg[:, rows] - (gq * dg[:, rows]).sum(axis=1, keepdims=True)) \
                / spec.temperature
        # state: kept share (1 - u) where active, all of it where inactive, plus the
        # recurrent and selection paths (SB7)
        dh_prev = np.where(active[t], (1 - u) * delta, delta) + da @ W_H \
            + dz @ W_S[:, D:]
        # weight, bias and input gradients accumulate over steps (SB9)
        dW_H += da.T @ h_prev
        dW_I += da.T @ x[t]
        db_H += da.sum(axis=0)
        dW_S += dz.T @ np.concatenate([x[t], h_prev], axis=1)
        db_S += dz.sum(axis=0)
        dx[t] = da @ W_I + dz @ W_S[:, :D]
        # a reset cuts the path to h_{t-1}; the replaced state was r (SB8)
        if reset[t]:
            dr += dh_prev.sum(axis=0)
            eps = np.zeros_like(eps)
        else:
            eps = dh_prev
    grads = {"W_I": np.where(spec.base.M_I, dW_I, 0).astype(dtype, copy=False),
             "W_H": np.where(spec.base.M_H, dW_H, 0).astype(dtype, copy=False),
             "b_H": db_H, "W_O": dW_O, "b_O": db_O, "W_S": dW_S, "b_S": db_S,
             "x": dx, "h_init": eps}
    if spec.learn_h0:
        grads["h_0"] = fold_h0(dr, eps, cache.h_init_given)         # (SB9)
    return grads
