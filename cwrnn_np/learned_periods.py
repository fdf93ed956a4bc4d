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
the ordinary clock (phase 0), and the network *is* a CW-RNN; :func:`harden` makes that exact.

Connectivity and routing come from the base :class:`~cwrnn_np.ClockworkSpec`; a preset such as
``"clockwork"`` is evaluated on the base's (initial) periods and then stays fixed.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, P candidate periods.

Tiers: :func:`forward_periods_numpy` / :func:`backward_periods_numpy` are the readable
reference; ``*_numba`` call :mod:`cwrnn_np.kernels.learned_periods`; :func:`forward_periods` /
:func:`backward_periods` validate and dispatch; :func:`gradcheck_periods` audits.
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import NamedTuple

import numpy as np

from .gradcheck import GradcheckReport, audit
from .model import validate_backward_call, validate_call
from .params import init_params
from .reference import masked_weights, reset_state
from .spec import ClockworkSpec

__all__ = ["LearnedPeriodSpec", "PeriodCache", "FORMS", "default_candidates",
           "init_period_params", "period_weights", "forward_periods_numpy",
           "backward_periods_numpy", "forward_periods_numba", "backward_periods_numba",
           "forward_periods", "backward_periods", "PERIOD_BACKENDS", "gradcheck_periods",
           "harden", "module_periods"]

FORMS = ("static", "emitted")


def default_candidates(periods) -> tuple:
    """Powers of two from 1 to twice the largest period (at least 1, 2), plus the periods
    themselves, so that the initial modes are the schedule's periods."""
    top = 2 * max(periods)
    out, p = set(int(q) for q in periods), 1
    while p <= max(top, 2):
        out.add(p)
        p *= 2
    return tuple(sorted(out))


@dataclasses.dataclass(frozen=True)
class LearnedPeriodSpec:
    r"""A CW-RNN whose module periods are learned distributions (no parameters).

    Parameters
    ----------
    base : ClockworkSpec
        Modules, wiring and routing; its periods are the initial :math:`e^{\mu_i}`; all
        phases must be 0 (the learned clock fires at :math:`(t_0 + t) \bmod p = 0`).
    candidates : sequence of int, optional
        The candidate periods P (distinct, >= 1, at least two); default
        :func:`default_candidates` of the base periods.
    form : ``"static"`` or ``"emitted"``
    sigma_init : float > 0
        The initial :math:`\operatorname{softplus}(\rho)` of every module (log-period units);
        the initial σ is ``temperature * sigma_init``.
    temperature : float > 0
        τ, multiplies every σ (P4).
    """

    base: ClockworkSpec
    candidates: tuple | None = None
    form: str = "static"
    sigma_init: float = 0.5
    temperature: float = 1.0

    def __post_init__(self):
        set_ = object.__setattr__
        if not isinstance(self.base, ClockworkSpec):
            raise ValueError(f"base must be a ClockworkSpec, got {type(self.base).__name__}")
        if any(self.base.phases):
            raise ValueError(f"base phases must all be 0 for learned periods, got "
                             f"{list(self.base.phases)}")
        cands = default_candidates(self.base.periods) if self.candidates is None \
            else self.candidates
        try:
            cands = list(cands)
        except TypeError:
            raise ValueError(f"candidates must be a list of integer periods, "
                             f"got {self.candidates!r}") from None
        for c in cands:
            if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Integral) or c < 1:
                raise ValueError(f"candidates entries must be integers >= 1, got {c!r}")
        if len(cands) < 2 or len(set(cands)) != len(cands):
            raise ValueError(f"candidates must hold at least two distinct periods, got {cands}")
        set_(self, "candidates", tuple(sorted(int(c) for c in cands)))
        if self.form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {self.form!r}")
        for field in ("sigma_init", "temperature"):
            v = getattr(self, field)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Real) \
                    or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{field} must be a finite number > 0, got {v!r}")
            set_(self, field, float(v))

    # ----- the base CW-RNN's fields ----------------------------------------------------------
    input_size = property(lambda self: self.base.input_size)
    output_size = property(lambda self: self.base.output_size)
    hidden_size = property(lambda self: self.base.hidden_size)
    n_modules = property(lambda self: self.base.n_modules)
    module_sizes = property(lambda self: self.base.module_sizes)
    periods = property(lambda self: self.base.periods)
    learn_h0 = property(lambda self: self.base.learn_h0)

    @property
    def log_candidates(self) -> np.ndarray:
        """(P,) :math:`\\log p` for p in P."""
        return np.log(np.asarray(self.candidates, dtype=np.float64))

    def fires(self, L: int, t0: int = 0) -> np.ndarray:
        """(L, P) bool :math:`m_t[p] = [(t_0 + t) \\bmod p = 0]`."""
        t = t0 + np.arange(L)[:, None]
        return (t % np.asarray(self.candidates)[None, :]) == 0

    def param_shapes(self) -> dict:
        n, H = self.n_modules, self.hidden_size
        extra = {"mu": (n,), "rho": (n,)} if self.form == "static" else \
            {"W_mu": (n, H), "b_mu": (n,), "W_rho": (n, H), "b_rho": (n,)}
        return {**self.base.param_shapes(), **extra}

    def param_masks(self) -> dict:
        return {**self.base.param_masks(),
                **{k: None for k in self.param_shapes() if k not in self.base.param_shapes()}}

    def replace(self, **changes) -> "LearnedPeriodSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "candidates": list(self.candidates),
                "form": self.form, "sigma_init": self.sigma_init,
                "temperature": self.temperature}

    @staticmethod
    def from_dict(d: dict) -> "LearnedPeriodSpec":
        return LearnedPeriodSpec(ClockworkSpec(**d["base"]), d["candidates"], d["form"],
                                 d["sigma_init"], d["temperature"])


def softplus(z):
    """:math:`\\log(1 + e^z)`, computed without overflow."""
    return np.logaddexp(0.0, z)


def sigmoid(z):
    """:math:`1 / (1 + e^{-z})`, the derivative of softplus, computed without overflow."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def init_period_params(spec: LearnedPeriodSpec, rng: np.random.Generator, dtype=np.float64,
                       scale: float = 1.0) -> dict:
    r"""The base CW-RNN's parameters (:func:`cwrnn_np.init_params`) plus the clock's:
    :math:`\mu_i = \log T_i` (the base periods) and :math:`\rho_i = \operatorname{softplus}^{-1}
    (\sigma_0)`; in the emitted form these are the biases ``b_mu``, ``b_rho`` and the maps
    ``W_mu``, ``W_rho`` start at zero, so the emitted clock starts as the static one."""
    params = init_params(spec.base, rng, dtype=dtype, scale=scale)
    mu = np.log(np.asarray(spec.periods, dtype=np.float64))
    rho = np.full(spec.n_modules, np.log(np.expm1(spec.sigma_init)))
    if spec.form == "static":
        params.update(mu=mu.astype(dtype), rho=rho.astype(dtype))
    else:
        n, H = spec.n_modules, spec.hidden_size
        params.update(W_mu=np.zeros((n, H), dtype), b_mu=mu.astype(dtype),
                      W_rho=np.zeros((n, H), dtype), b_rho=rho.astype(dtype))
    return params


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
    :math:`\ell_p = \log p`, :math:`m_t[p]` the clock of candidate p, for module i:

    .. math::

        \delta_t &= W_O^\top \bar y_t + \epsilon_{t+1}                              && (PB2) \\
        \bar a_t &= \delta_t \odot \alpha_t \odot (1 - v_t^2)                       && (PB3) \\
        \bar\alpha_t[i] &= \textstyle\sum_{k \in i} \delta_t[k]\,(v_t[k] - \tilde h_{t-1}[k])
                                                                                    && (PB4) \\
        \bar e_t[i, p] &= \bar\alpha_t[i]\, w_t[i, p]\, (m_t[p] - \alpha_t[i])        && (PB5) \\
        \bar\mu_t[i] &= \textstyle\sum_p \bar e_t[i, p]\, (\ell_p - \mu_t[i]) / \sigma_t[i]^2,
        \quad \bar\sigma_t[i] = \textstyle\sum_p \bar e_t[i, p]\, (\ell_p - \mu_t[i])^2 /
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
        grads["h_0"] = dr + (0 if cache.h_init_given else eps.sum(axis=0))
    return grads


# ----- the Numba backend ----------------------------------------------------------------------

def _kernels():
    """The compiled kernels, imported on first use so that ``import cwrnn_np`` stays light."""
    from .kernels import learned_periods
    return learned_periods


def _c(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous, aligned, writeable array (a copy only if needed)."""
    return np.require(a, dtype=dtype, requirements=("C", "A", "W"))


def _clock_arrays(params: dict, spec: LearnedPeriodSpec, dtype):
    """The kernels' view of P3: ``(emitted, W_mu, b_mu, W_rho, b_rho)``. In the static form
    ``b_mu``, ``b_rho`` are the parameters ``mu``, ``rho`` and the maps are empty (0, H)."""
    if spec.form == "emitted":
        return (True, _c(params["W_mu"]), _c(params["b_mu"]), _c(params["W_rho"]),
                _c(params["b_rho"]))
    empty = np.empty((0, spec.hidden_size), dtype)                  # (0, H) never read
    return False, empty, _c(params["mu"]), empty, _c(params["rho"])


def _wiring(spec: LearnedPeriodSpec):
    """``(offsets (n + 1,) int64, C (n, n) bool, R (n,) bool)`` of the base spec."""
    base = spec.base
    return (_c(base.offsets, np.int64), _c(base.C, np.bool_), _c(base.R, np.bool_))


def forward_periods_numba(params: dict, spec: LearnedPeriodSpec, x: np.ndarray, h_init,
                          t0: int, reset: np.ndarray):
    r"""Forward pass with learned periods in one Numba call; wraps
    :func:`cwrnn_np.kernels.learned_periods.periods_forward_kernel`.

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
    h, th, mu, rho, sigma, alpha, w, y = _kernels().periods_forward_kernel(
        _c(x), h_in, _c(r), _c(reset, np.bool_), int(t0), offsets, C, R,
        np.ascontiguousarray(params["W_I"].T),                      # (D, H) W_I^T
        np.ascontiguousarray(params["W_H"].T),                      # (H, H) W_H^T
        _c(params["b_H"]), emitted, W_mu, b_mu, W_rho, b_rho,
        spec.log_candidates.astype(dtype),                          # (P,)
        np.asarray(spec.candidates, np.int64), dtype.type(spec.temperature),
        _c(params["W_O"]), _c(params["b_O"]))                       # (P1-P7)
    cache = PeriodCache(x=x, h_init=h_in, r=r, h=h, th=th, mu=mu, rho=rho, sigma=sigma,
                        alpha=alpha, w=w, reset=reset, t0=t0,
                        h_init_given=h_init is not None, backend="numba")
    return y, cache


def backward_periods_numba(params: dict, spec: LearnedPeriodSpec, dy: np.ndarray,
                           cache: PeriodCache, dh_last=None) -> dict:
    r"""Hand-derived BPTT with learned periods in one Numba call; wraps
    :func:`cwrnn_np.kernels.learned_periods.periods_backward_kernel`.

    Same parameters, returns and equations (PB1–PB10) as :func:`backward_periods_numpy`: the
    output-layer gradients (PB1) are matrix products here, the recurrence (PB2–PB9) and the
    sums over steps (PB10) are the kernel. The kernel never touches an unwired block, so the
    structural zeros of ``W_I`` and ``W_H`` get exactly zero without a mask.
    """
    x, h = cache.x, cache.h
    L, B, D = x.shape
    H, O = spec.hidden_size, spec.output_size
    dtype = params["W_H"].dtype
    h2 = _c(h, dtype)
    dy2 = dy.reshape(L * B, O)                                      # (L B, O)
    # output layer (PB1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ h2.reshape(L * B, H)                             # (O, H)
    db_O = dy2.sum(axis=0)                                          # (O,)
    eps = np.zeros((B, H), dtype) if dh_last is None else _c(dh_last, dtype)
    emitted, W_mu, _, W_rho, _ = _clock_arrays(params, spec, dtype)
    offsets, C, R = _wiring(spec)
    dW_I, dW_H, db_H, dW_mu, db_mu, dW_rho, db_rho, dx, dh_init, dr = \
        _kernels().periods_backward_kernel(
            _c(x, dtype), _c(cache.h_init, dtype), _c(cache.r, dtype), h2,
            _c(cache.th, dtype), _c(cache.mu, dtype), _c(cache.rho, dtype),
            _c(cache.sigma, dtype), _c(cache.alpha, dtype), _c(cache.w, dtype),
            _c(cache.reset, np.bool_), int(cache.t0), offsets, C, R, _c(params["W_I"]),
            _c(params["W_H"]), emitted, W_mu, W_rho, spec.log_candidates.astype(dtype),
            np.asarray(spec.candidates, np.int64), dtype.type(spec.temperature),
            _c(dy, dtype), _c(params["W_O"]), eps)                  # (PB2-PB10)
    grads = {"W_I": dW_I, "W_H": dW_H, "b_H": db_H, "W_O": dW_O, "b_O": db_O}
    # the clock's parameters: sums over steps and batch (PB10)
    if emitted:
        grads.update(W_mu=dW_mu, b_mu=db_mu, W_rho=dW_rho, b_rho=db_rho)
    else:
        grads.update(mu=db_mu, rho=db_rho)
    grads.update(x=dx, h_init=dh_init)
    if spec.learn_h0:
        grads["h_0"] = dr + (0 if cache.h_init_given else dh_init.sum(axis=0))
    return grads


# ----- public entry points --------------------------------------------------------------------

#: backend name -> (forward, backward), with the signatures of the numpy reference.
PERIOD_BACKENDS = {"numpy": (forward_periods_numpy, backward_periods_numpy),
                   "numba": (forward_periods_numba, backward_periods_numba)}


def _backend(name):
    if name not in PERIOD_BACKENDS:
        raise ValueError(f"backend must be one of {sorted(PERIOD_BACKENDS)}, got {name!r}")
    return PERIOD_BACKENDS[name]


def forward_periods(params: dict, spec: LearnedPeriodSpec, x: np.ndarray, h_init=None,
                    t0: int = 0, resets=None, backend: str = "numba"):
    r"""Run a CW-RNN with learned periods over a sequence (chunk); the API of
    :func:`cwrnn_np.forward`. Equations P1–P7 (module docstring, ``docs/variants.md``)."""
    fwd, _ = _backend(backend)
    if not isinstance(spec, LearnedPeriodSpec):
        raise ValueError(f"spec must be a LearnedPeriodSpec, got {type(spec).__name__}")
    _, flags = validate_call(params, spec, x, h_init, t0, resets, state_size=spec.hidden_size)
    return fwd(params, spec, x, h_init, int(t0), flags)


def backward_periods(params: dict, spec: LearnedPeriodSpec, dy: np.ndarray,
                     cache: PeriodCache, dh_last=None, backend: str = "numba") -> dict:
    r"""BPTT through :func:`forward_periods` (PB1–PB10); the API of :func:`cwrnn_np.backward`.
    Either backend's cache works with either backward."""
    _, bwd = _backend(backend)
    if not isinstance(spec, LearnedPeriodSpec):
        raise ValueError(f"spec must be a LearnedPeriodSpec, got {type(spec).__name__}")
    validate_backward_call(params, spec, dy, cache, dh_last, PeriodCache, "forward_periods",
                           state_size=spec.hidden_size)
    return bwd(params, spec, dy, cache, dh_last)


def gradcheck_periods(params: dict, spec: LearnedPeriodSpec, x: np.ndarray, *, h_init=None,
                      t0: int = 0, resets=None, backend: str = "numba", rng=None,
                      mode: str = "both", eps: float = 1e-3, floor=None, n_directions: int = 3,
                      max_entries: int | None = None) -> GradcheckReport:
    """Audit :func:`backward_periods` against finite differences of :func:`forward_periods`
    (the audit of :func:`cwrnn_np.gradcheck`)."""
    return audit(
        lambda p, xx, h: forward_periods(p, spec, xx, h, t0, resets, backend=backend),
        lambda p, dy, c, dh: backward_periods(p, spec, dy, c, dh_last=dh, backend=backend),
        params, spec.param_masks(), x, h_init=h_init, rng=rng, mode=mode, eps=eps,
        floor=floor, n_directions=n_directions, max_entries=max_entries,
        who="gradcheck_periods")


# ----- hard clock -----------------------------------------------------------------------------

def module_periods(params: dict, spec: LearnedPeriodSpec, x=None, t0: int = 0) -> dict:
    r"""Each module's period distribution and its summaries.

    Static form: from ``mu``, ``rho``. Emitted form: averaged over the steps and batch of a
    forward run on ``x`` (L, B, D), which is then required (from the reset state, clock offset
    ``t0``, no resets; the NumPy reference).

    Returns
    -------
    dict with ``"weights"`` (n, P) the (mean) distribution :math:`w[i, p]`, ``"mode"`` (n,) the
    most likely period of each module, ``"mean_log"`` (n,) the mean of :math:`\mu`, and
    ``"sigma"`` (n,) the mean σ.
    """
    log_p = spec.log_candidates
    if spec.form == "static":
        mu = np.asarray(params["mu"], np.float64)
        sigma = spec.temperature * softplus(np.asarray(params["rho"], np.float64))
        w = period_weights(mu, sigma, log_p)
    else:
        if x is None:
            raise ValueError("module_periods of the emitted form needs x (L, B, D): the "
                             "periods depend on the state")
        _, cache = forward_periods(params, spec, x, t0=t0, backend="numpy")
        w = cache.w.mean(axis=(0, 1))
        mu, sigma = cache.mu.mean(axis=(0, 1)), cache.sigma.mean(axis=(0, 1))
    mode = np.asarray(spec.candidates)[np.argmax(w, axis=1)]
    return {"weights": w, "mode": mode, "mean_log": mu, "sigma": sigma}


def harden(params: dict, spec: LearnedPeriodSpec, x=None, t0: int = 0):
    r"""Snap every module to its most likely period: an ordinary CW-RNN for inference.

    Returns ``(ClockworkSpec, params)``: the base spec with ``periods`` = the modes of
    :func:`module_periods` (phases 0, the base's wiring and routing kept as explicit
    matrices) and the base parameters. When every σ is small (a low ``temperature``), the
    hardened network computes what the soft one computes (``tests/test_learned_periods.py``).
    """
    periods = module_periods(params, spec, x, t0)["mode"]
    base = spec.base
    hard = base.replace(periods=[int(p) for p in periods], phases=None,
                        connectivity=np.array(base.C), input_modules=[bool(v) for v in base.R])
    keep = base.param_shapes()
    return hard, {k: np.array(v) for k, v in params.items() if k in keep}
