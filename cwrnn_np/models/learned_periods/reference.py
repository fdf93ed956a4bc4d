r"""Learned clock periods: the design note's "let the RNN emit a Gaussian distribution over time
periods".

Every module i holds a distribution over a discrete set P of candidate periods, Gaussian in
log-period, and updates by its *expected* clock: the probability that a period drawn from the
distribution fires at this step. Forward equations P1–P7 and BPTT PB1–PB10 are derived in
``docs/variants.md``; the tags in the comments name them.

.. math::

    \tilde h_{t-1} &= r \text{ if } s_t \text{ else } h_{t-1}                          && (P1) \\
    a_t &= \tilde W_I x_t + \tilde W_H \tilde h_{t-1} + b_H                            && (P2) \\
    \mu_t, \rho_t &= (\mu, \rho) \text{ (static) or }
        (W_\mu \tilde h_{t-1} + b_\mu,\; W_\rho \tilde h_{t-1} + b_\rho) \text{ (emitted)} && (P3) \\
    \sigma_t &= \tau \operatorname{softplus}(\rho_t)                                  && (P4) \\
    w_t[i, p] &= \operatorname{softmax}_{p \in P}\bigl(-(\log p - \mu_t[i])^2 / (2 \sigma_t[i]^2)\bigr)
                                                                                      && (P5) \\
    \alpha_t[i] &= \textstyle\sum_{p \in P} w_t[i, p]\, [(t_0 + t) \bmod p = 0]        && (P6) \\
    h_t[k] &= \alpha_t[i] \tanh(a_t[k]) + (1 - \alpha_t[i])\, \tilde h_{t-1}[k],
        \quad y_t = W_O h_t + b_O                                                     && (P7)

where k runs over the units of module i, :math:`\tau > 0` is the temperature
(:attr:`LearnedPeriodSpec.temperature`; the trainer anneals it with ``model.temperature_end``,
which shrinks every σ toward a hard clock) and the two *forms* are:

* **static**: :math:`\mu_i` and :math:`\rho_i` are parameters (``mu``, ``rho``, each (n,));
* **emitted**: the network sets its own clock from its state through a learned linear map
  (``W_mu``, ``W_rho`` (n, H), ``b_mu``, ``b_rho`` (n,)), the note's idea.

σ is parameterised by :math:`\rho` through softplus so that it stays positive under any update.
As σ → 0 the distribution becomes one-hot on the candidate nearest :math:`e^{\mu_i}`, α becomes
the ordinary clock (phase 0), and the network *is* a CW-RNN; :func:`~cwrnn_np.models.learned_periods.harden` makes that exact.

Connectivity and routing come from the base :class:`~cwrnn_np.ClockworkSpec`; a preset such as
``"clockwork"`` is evaluated on the base's (initial) periods and then stays fixed.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.

These functions are the readable reference and assume validated input;
:func:`cwrnn_np.models.learned_periods.forward_periods` and
:func:`cwrnn_np.models.learned_periods.backward_periods` validate and then call them
(``backend="numpy"``); :func:`cwrnn_np.models.learned_periods.harden` snaps a trained network
to an ordinary CW-RNN.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...activations import sigmoid, softplus
from ...params import fold_h0
from ..clockwork.reference import masked_weights, reset_state
from .spec import LearnedPeriodSpec

__all__ = ["PeriodCache", "period_weights", "forward_periods_numpy", "backward_periods_numpy"]


def period_weights(mu: np.ndarray, sigma: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    r"""(…, P) :math:`w[\cdot, p] = \operatorname{softmax}_p(-(\log p - \mu)^2 / (2\sigma^2))`
    (P5) for ``mu``, ``sigma`` of any shape (…)."""
    e = -((log_p - mu[..., None]) ** 2) / (2 * sigma[..., None] ** 2)   # (..., P)
    e = np.exp(e - e.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class PeriodCache(NamedTuple):
    """What the backward pass needs from the forward pass.

    Attributes
    ----------
    x : (L, B, D) inputs; h_init : (B, H) the carried-in state used; r : (H,) reset state.
    h : (L, B, H) states; th : (L, B, H) :math:`\\tanh(a_t)`.
    mu, rho, sigma, alpha : (L, B, n) the clock's :math:`\\mu_t, \\rho_t, \\sigma_t, \\alpha_t`.
    w : (L, B, n, P) the period distributions :math:`w_t`.
    reset : (L,) bool; t0 : the clock offset; h_init_given : whether ``h_init`` was passed;
    backend : who made the cache.
    """

    x: np.ndarray
    h_init: np.ndarray
    r: np.ndarray
    h: np.ndarray
    th: np.ndarray
    mu: np.ndarray
    rho: np.ndarray
    sigma: np.ndarray
    alpha: np.ndarray
    w: np.ndarray
    reset: np.ndarray
    t0: int
    h_init_given: bool
    backend: str

    @property
    def h_last(self) -> np.ndarray:
        """(B, H) the last state; pass it as ``h_init`` to the next chunk with ``t0 + L``."""
        return self.h[-1]


def forward_periods_numpy(params: dict, spec: LearnedPeriodSpec, x: np.ndarray, h_init,
                          t0: int, reset: np.ndarray):
    r"""Forward pass with learned periods (equations P1–P7 of the module docstring).

    Parameters
    ----------
    params : dict, the base CW-RNN's arrays plus the clock's (see :class:`LearnedPeriodSpec`)
    spec : LearnedPeriodSpec
    x : (L, B, D) inputs; h_init : (B, H) or None (the reset state r)
    t0 : int clock offset; reset : (L,) bool, ``reset[s]`` replaces the state entering step s

    Returns
    -------
    y : (L, B, O) outputs; cache : PeriodCache
    """
    L, B, D = x.shape
    H, n = spec.hidden_size, spec.n_modules
    dtype = params["W_H"].dtype
    W_I, W_H = masked_weights(params, spec.base)                  # (M1)
    r = reset_state(params, spec.base, dtype)
    h_in = np.broadcast_to(r, (B, H)) if h_init is None else h_init
    m = spec.fires(L, t0).astype(dtype)                             # (L, P) clock of each p
    log_p = spec.log_candidates.astype(dtype)                       # (P,)
    sizes = spec.module_sizes
    h, th = np.empty((L, B, H), dtype), np.empty((L, B, H), dtype)
    mu, rho = np.empty((L, B, n), dtype), np.empty((L, B, n), dtype)
    w = np.empty((L, B, n, len(log_p)), dtype)
    alpha = np.empty((L, B, n), dtype)
    h_prev = h_in
    for t in range(L):
        if reset[t]:
            h_prev = np.broadcast_to(r, h_prev.shape)                # (P1) forget
        a = x[t] @ W_I.T + h_prev @ W_H.T + params["b_H"]            # (P2) (B, H)
        th[t] = np.tanh(a)
        if spec.form == "static":                                   # (P3)
            mu[t], rho[t] = params["mu"], params["rho"]
        else:
            mu[t] = h_prev @ params["W_mu"].T + params["b_mu"]       # (B, n)
            rho[t] = h_prev @ params["W_rho"].T + params["b_rho"]    # (B, n)
        sigma_t = spec.temperature * softplus(rho[t])                # (P4) (B, n)
        w[t] = period_weights(mu[t], sigma_t, log_p)                 # (P5) (B, n, P)
        alpha[t] = w[t] @ m[t]                                       # (P6) (B, n)
        alpha_u = np.repeat(alpha[t], sizes, axis=1)                 # (B, H) per unit
        h[t] = alpha_u * th[t] + (1 - alpha_u) * h_prev              # (P7) soft update
        h_prev = h[t]
    y = h @ params["W_O"].T + params["b_O"]                        # (P7) (L, B, O)
    sigma = spec.temperature * softplus(rho)                        # (P4) as in the loop
    cache = PeriodCache(x=x, h_init=np.array(h_in), r=r, h=h, th=th, mu=mu, rho=rho,
                        sigma=sigma, alpha=alpha, w=w, reset=reset, t0=t0,
                        h_init_given=h_init is not None, backend="numpy")
    return y, cache


def backward_periods_numpy(params: dict, spec: LearnedPeriodSpec, dy: np.ndarray,
                           cache: PeriodCache, dh_last=None) -> dict:
    r"""Hand-derived BPTT for :func:`forward_periods_numpy` (``docs/variants.md``, PB1–PB10).

    Parameters
    ----------
    params, spec : as for the forward pass
    dy : (L, B, O) upstream gradient; cache : PeriodCache
    dh_last : (B, H) or None, upstream gradient on the last state

    Returns
    -------
    grads : dict with the keys of ``params`` plus ``"x"`` (L, B, D) and ``"h_init"`` (B, H)

    Notes
    -----
    With :math:`\delta_t = \partial\ell/\partial h_t`, :math:`v_t = \tanh(a_t)`,
    :math:`\lambda_p = \log p`, :math:`m_t[p]` the clock of candidate p, for module i:

    .. math::

        \delta_t &= W_O^\top \bar y_t + \epsilon_{t+1}                              && (PB2) \\
        \bar a_t &= \delta_t \odot \alpha_t \odot (1 - v_t^2)                       && (PB3) \\
        \bar\alpha_t[i] &= \textstyle\sum_{k \in i} \delta_t[k]\,(v_t[k] - \tilde h_{t-1}[k])
                                                                                    && (PB4) \\
        \bar e_t[i, p] &= \bar\alpha_t[i]\, w_t[i, p]\, (m_t[p] - \alpha_t[i])        && (PB5) \\
        \bar\mu_t[i] &= \textstyle\sum_p \bar e_t[i, p]\, (\lambda_p - \mu_t[i]) / \sigma_t[i]^2,
        \quad \bar\sigma_t[i] = \textstyle\sum_p \bar e_t[i, p]\, (\lambda_p - \mu_t[i])^2 /
            \sigma_t[i]^3                                                          && (PB6) \\
        \bar\rho_t &= \bar\sigma_t \odot \tau\, \operatorname{sigmoid}(\rho_t)        && (PB7) \\
        \bar{\tilde h}_{t-1} &= (1 - \alpha_t) \odot \delta_t + \tilde W_H^\top \bar a_t
            \;[+\, W_\mu^\top \bar\mu_t + W_\rho^\top \bar\rho_t \text{ (emitted)}]  && (PB8)

    :math:`\epsilon_t` is :math:`\bar{\tilde h}_{t-1}`, or 0 after a reset (PB9), and the
    parameter gradients are sums over t (and the batch) (PB10): ``mu`` gets
    :math:`\sum_t \bar\mu_t`; ``W_mu`` gets :math:`\sum_t \bar\mu_t^\top \tilde h_{t-1}`.
    """
    x, h, th, reset = cache.x, cache.h, cache.th, cache.reset
    L, B, D = x.shape
    H, n = spec.hidden_size, spec.n_modules
    W_I, W_H = masked_weights(params, spec.base)
    dtype = W_H.dtype
    sizes = spec.module_sizes
    m = spec.fires(L, cache.t0).astype(dtype)                       # (L, P)
    log_p = spec.log_candidates.astype(dtype)                       # (P,)
    unit_module = spec.base.unit_module                             # (H,)
    emitted = spec.form == "emitted"
    # output layer (PB1): y_t = W_O h_t + b_O
    dW_O = np.einsum("lbo,lbh->oh", dy, h)                          # (O, H)
    db_O = dy.sum(axis=(0, 1))                                      # (O,)
    dh_out = dy @ params["W_O"]                                     # (L, B, H)
    dW_I, dW_H = np.zeros_like(W_I), np.zeros_like(W_H)
    db_H, dr = np.zeros(H, dtype), np.zeros(H, dtype)
    dmu_pre, drho_pre = np.zeros((L, B, n), dtype), np.zeros((L, B, n), dtype)
    dx = np.zeros_like(x)
    h_prevs = np.empty((L, B, H), dtype)
    eps = np.zeros((B, H), dtype) if dh_last is None else np.array(dh_last, dtype)
    for t in range(L - 1, -1, -1):
        # total gradient on h_t: from y_t and from step t+1 (PB2)
        delta = dh_out[t] + eps                                     # (B, H)
        h_prev = cache.r if reset[t] else (cache.h_init if t == 0 else h[t - 1])
        h_prev = np.broadcast_to(h_prev, (B, H))                    # (B, H)
        h_prevs[t] = h_prev
        alpha = cache.alpha[t]                                      # (B, n)
        alpha_u = np.repeat(alpha, sizes, axis=1)                   # (B, H)
        # backprop through tanh, scaled by the expected clock (PB3)
        da = delta * alpha_u * (1 - th[t] * th[t])                  # (B, H)
        # gradient on the expected clock, summed over the module's units (PB4)
        dalpha = np.zeros((B, n), dtype)
        np.add.at(dalpha.T, unit_module, (delta * (th[t] - h_prev)).T)
        # back through the expectation over periods and the softmax (PB5)
        w = cache.w[t]                                              # (B, n, P)
        de = dalpha[..., None] * w * (m[t] - alpha[..., None])      # (B, n, P)
        # back through the Gaussian in log-period (PB6)
        diff = log_p - cache.mu[t][..., None]                       # (B, n, P)
        sig = cache.sigma[t]                                        # (B, n)
        dmu = (de * diff).sum(axis=-1) / sig ** 2                   # (B, n)
        dsigma = (de * diff ** 2).sum(axis=-1) / sig ** 3           # (B, n)
        # back through sigma = tau softplus(rho) (PB7)
        drho = dsigma * spec.temperature * sigmoid(cache.rho[t])    # (B, n)
        dmu_pre[t], drho_pre[t] = dmu, drho
        # state: the kept share (1 - alpha), the recurrent path, and the emitted clock (PB8)
        dh_prev = (1 - alpha_u) * delta + da @ W_H
        if emitted:
            dh_prev = dh_prev + dmu @ params["W_mu"] + drho @ params["W_rho"]
        dW_H += da.T @ h_prev
        dW_I += da.T @ x[t]
        db_H += da.sum(axis=0)
        dx[t] = da @ W_I
        # a reset cuts the path to h_{t-1}; the replaced state was r (PB9)
        if reset[t]:
            dr += dh_prev.sum(axis=0)
            eps = np.zeros_like(eps)
        else:
            eps = dh_prev
    grads = {"W_I": np.where(spec.base.M_I, dW_I, 0).astype(dtype, copy=False),
             "W_H": np.where(spec.base.M_H, dW_H, 0).astype(dtype, copy=False),
             "b_H": db_H, "W_O": dW_O, "b_O": db_O}
    # the clock's parameters: sums over steps and batch (PB10)
    if emitted:
        grads.update(W_mu=np.einsum("lbn,lbh->nh", dmu_pre, h_prevs),
                     b_mu=dmu_pre.sum(axis=(0, 1)),
                     W_rho=np.einsum("lbn,lbh->nh", drho_pre, h_prevs),
                     b_rho=drho_pre.sum(axis=(0, 1)))
    else:
        grads.update(mu=dmu_pre.sum(axis=(0, 1)), rho=drho_pre.sum(axis=(0, 1)))
    grads.update(x=dx, h_init=eps)
    if spec.learn_h0:
        grads["h_0"] = fold_h0(dr, eps, cache.h_init_given)         # (PB10)
    return grads
