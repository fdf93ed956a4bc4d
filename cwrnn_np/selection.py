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
    u_t[k] &= c_t[k] \cdot (g_t^G[k] \text{ if } k \in G \text{ else } 1)              && (S4) \\
    h_t[k] &= u_t[k] \tanh(a_t[k]) + (1 - u_t[k]) \tilde h_{t-1}[k]
        \text{ if } c_t[k] \text{ else } \tilde h_{t-1}[k]                            && (S5) \\
    y_t &= W_O h_t + b_O                                                               && (S6)

where G is a group, :math:`c_t[k]` the clock of module k, :math:`\tau > 0` the temperature
(:attr:`SelectionSpec.temperature`, annealed by the trainer with ``model.temperature_end``) and
:math:`u_t[k]` the update gate of module k (shared by its units). Modules outside groups have
:math:`u = c`, so they are exactly the CW-RNN's; an inactive module is held bitwise.

Shape letters: L time, B batch, D input, H hidden, O output, n modules, S selection rows (one
per grouped module), K modules in a group.

Tiers: :func:`forward_select_numpy` / :func:`backward_select_numpy` are the readable reference;
``*_numba`` call the kernels of :mod:`cwrnn_np.kernels.selection` once per sequence;
:func:`forward_select` / :func:`backward_select` validate and dispatch. :func:`gradcheck_select`
audits either backend against float64 finite differences.
"""
from __future__ import annotations

import dataclasses
import numbers
from functools import cached_property
from typing import NamedTuple

import numpy as np

from .gradcheck import GradcheckReport, audit
from .model import validate_backward_call, validate_call
from .params import init_params
from .reference import masked_weights, reset_state
from .spec import ClockworkSpec

__all__ = ["SelectionSpec", "SelectionCache", "group_modules", "init_select_params",
           "forward_select_numpy", "backward_select_numpy", "forward_select_numba",
           "backward_select_numba", "forward_select", "backward_select",
           "SELECT_BACKENDS", "gradcheck_select"]


def _positive_float(value, field):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{field} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class SelectionSpec:
    r"""A CW-RNN whose same-clock module groups are softly selected (no parameters).

    Parameters
    ----------
    base : ClockworkSpec
        The modules, clock, wiring and routing.
    groups : sequence of sequences of int
        Each group lists K >= 2 module indices of ``base`` sharing one period and phase; groups
        are disjoint. Modules in no group update by the ordinary clock.
    temperature : float > 0
        :math:`\tau` of the selection softmax (S3); small values make the selection hard.

    The parameters are the base CW-RNN's plus ``W_S`` (S, D + H) and ``b_S`` (S,): row s
    scores grouped module ``select_modules[s]`` from :math:`[x_t; \tilde h_{t-1}]`.
    """

    base: ClockworkSpec
    groups: tuple
    temperature: float = 1.0

    def __post_init__(self):
        if not isinstance(self.base, ClockworkSpec):
            raise ValueError(f"base must be a ClockworkSpec, got {type(self.base).__name__}")
        n = self.base.n_modules
        try:
            groups = [list(g) for g in self.groups]
        except TypeError:
            raise ValueError(f"groups must be a list of lists of module indices, "
                             f"got {self.groups!r}") from None
        if not groups:
            raise ValueError("groups must list at least one group")
        seen = set()
        for gi, g in enumerate(groups):
            if len(g) < 2:
                raise ValueError(f"groups[{gi}] must have at least 2 modules, got {g}")
            for k in g:
                if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral) \
                        or not 0 <= k < n:
                    raise ValueError(f"groups[{gi}] entries must be module indices in "
                                     f"0..{n - 1}, got {k!r}")
                if k in seen:
                    raise ValueError(f"groups[{gi}]: module {k} is in more than one group")
                seen.add(int(k))
            clocks = {(self.base.periods[k], self.base.phases[k]) for k in g}
            if len(clocks) != 1:
                raise ValueError(f"groups[{gi}] = {g} mixes clocks (period, phase) "
                                 f"{sorted(clocks)}; a group shares one period and phase")
        object.__setattr__(self, "groups", tuple(tuple(int(k) for k in g) for g in groups))
        object.__setattr__(self, "temperature",
                           _positive_float(self.temperature, "temperature"))

    # ----- the base CW-RNN's fields ----------------------------------------------------------
    input_size = property(lambda self: self.base.input_size)
    output_size = property(lambda self: self.base.output_size)
    hidden_size = property(lambda self: self.base.hidden_size)
    n_modules = property(lambda self: self.base.n_modules)
    module_sizes = property(lambda self: self.base.module_sizes)
    periods = property(lambda self: self.base.periods)
    phases = property(lambda self: self.base.phases)
    learn_h0 = property(lambda self: self.base.learn_h0)

    @cached_property
    def select_modules(self) -> np.ndarray:
        """(S,) int: the module each selection row scores, group after group."""
        return np.array([k for g in self.groups for k in g], dtype=np.int64)

    @cached_property
    def group_ptr(self) -> np.ndarray:
        """(n_groups + 1,) int: group q owns selection rows ``group_ptr[q]:group_ptr[q+1]``."""
        return np.concatenate([[0], np.cumsum([len(g) for g in self.groups])]).astype(np.int64)

    def param_shapes(self) -> dict:
        S, D, H = len(self.select_modules), self.input_size, self.hidden_size
        return {**self.base.param_shapes(), "W_S": (S, D + H), "b_S": (S,)}

    def param_masks(self) -> dict:
        return {**self.base.param_masks(), "W_S": None, "b_S": None}

    def replace(self, **changes) -> "SelectionSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {"base": self.base.to_dict(), "groups": [list(g) for g in self.groups],
                "temperature": self.temperature}

    @staticmethod
    def from_dict(d: dict) -> "SelectionSpec":
        return SelectionSpec(ClockworkSpec(**d["base"]), d["groups"], d["temperature"])


def group_modules(base: ClockworkSpec, group_size: int, temperature: float = 1.0
                  ) -> SelectionSpec:
    r"""Replace every module of ``base`` by ``group_size`` copies that form one group.

    Copy q of module i has module i's size, period and phase, reads what module i read and
    feeds what it fed (its row and column of C, its routing); the copies of one module are
    mutually connected, like :func:`cwrnn_np.split_phases`. Periods [1, 4, 16] with
    ``group_size = 2`` give six modules with periods [1, 1, 4, 4, 16, 16] in groups
    (0, 1), (2, 3), (4, 5): the note's "several modules at one speed".
    """
    if isinstance(group_size, (bool, np.bool_)) or not isinstance(group_size, numbers.Integral) \
            or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2, got {group_size!r}")
    K, n = int(group_size), base.n_modules
    old = np.repeat(np.arange(n), K)                               # (n K,) old module of each new
    C = base.C[np.ix_(old, old)] | (old[:, None] == old[None, :])  # (n K, n K) copies connected
    spec = base.replace(module_sizes=[base.module_sizes[i] for i in old],
                        periods=[base.periods[i] for i in old],
                        phases=[base.phases[i] for i in old],
                        connectivity=C, input_modules=[bool(base.R[i]) for i in old])
    groups = [list(range(i * K, (i + 1) * K)) for i in range(n)]
    return SelectionSpec(spec, groups, temperature)


def init_select_params(spec: SelectionSpec, rng: np.random.Generator, dtype=np.float64,
                       scale: float = 1.0) -> dict:
    r"""The base CW-RNN's parameters (:func:`cwrnn_np.init_params`) plus the selection's:
    ``W_S`` drawn from :math:`\mathcal N(0, s^2 / (D + H))` so the copies in a group start
    distinguishable, and ``b_S`` zero (no module preferred)."""
    params = init_params(spec.base, rng, dtype=dtype, scale=scale)
    S, F = spec.param_shapes()["W_S"]
    params["W_S"] = (rng.standard_normal((S, F)) * (scale / np.sqrt(max(F, 1)))).astype(dtype)
    params["b_S"] = np.zeros(S, dtype)
    return params


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


def _softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the maximum so it cannot overflow."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


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
    active_mod = spec.base.active(L, t0)                            # (L, n) clock c_t
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
                g[t][:, rows] = _softmax(z / spec.temperature)
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
        grads["h_0"] = dr + (0 if cache.h_init_given else eps.sum(axis=0))
    return grads


# ----- the Numba backend ----------------------------------------------------------------------

def _kernels():
    """The compiled kernels, imported on first use so that ``import cwrnn_np`` stays light."""
    from .kernels import selection
    return selection


def _c(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous, aligned, writeable array (a copy only if needed)."""
    return np.require(a, dtype=dtype, requirements=("C", "A", "W"))


def _layout(spec: SelectionSpec):
    """The kernels' layout arrays (:mod:`cwrnn_np.kernels.selection`): ``offsets`` (n + 1,),
    ``C`` (n, n) bool, ``R`` (n,) bool, ``periods`` and ``phases`` (n,) (the base spec's
    modules, wiring, routing and clock), ``module_row`` (n,) (the selection row of each module,
    -1 if ungrouped), ``group_ptr`` (n_groups + 1,) and ``group_clock`` (n_groups,) (one module
    of each group, whose clock is the group's)."""
    base = spec.base
    module_row = np.full(spec.n_modules, -1, dtype=np.int64)
    module_row[spec.select_modules] = np.arange(len(spec.select_modules))
    group_clock = np.array([g[0] for g in spec.groups], dtype=np.int64)
    return (_c(base.offsets, np.int64), _c(base.C, np.bool_), _c(base.R, np.bool_),
            np.array(base.periods, dtype=np.int64), np.array(base.phases, dtype=np.int64),
            module_row, _c(spec.group_ptr, np.int64), group_clock)


def forward_select_numba(params: dict, spec: SelectionSpec, x: np.ndarray, h_init, t0: int,
                         reset: np.ndarray):
    r"""Forward pass with soft selection in one Numba call; wraps
    :func:`cwrnn_np.kernels.selection.select_forward_kernel`.

    Same parameters, returns and equations (S1–S6) as :func:`forward_select_numpy`; only the
    active modules, their wired blocks of W_H and routed rows of W_I, and the active groups are
    computed (M1 holds by construction: masked entries are never read, so the weights are
    passed unmasked). The cache has ``backend="numba"``.
    """
    L, B, _ = x.shape
    H = spec.hidden_size
    dtype = params["W_H"].dtype
    r = reset_state(params, spec.base, dtype)
    h_in = np.broadcast_to(r, (B, H)) if h_init is None else h_init
    h_in = np.array(h_in, dtype=dtype, order="C")                  # (B, H) own copy
    active_mod = spec.base.active(L, t0)                           # (L, n) clock c_t
    layout = _layout(spec)
    W_O = _c(params["W_O"])
    h, th, g, y = _kernels().select_forward_kernel(
        _c(x), h_in, _c(r), _c(reset, np.bool_), _c(active_mod, np.bool_), *layout,
        np.ascontiguousarray(params["W_I"].T, dtype),              # (D, H) W_I^T
        np.ascontiguousarray(params["W_H"].T, dtype),              # (H, H) W_H^T
        _c(params["b_H"]), _c(params["W_S"]), _c(params["b_S"]), spec.temperature,
        W_O, np.ascontiguousarray(W_O.T), _c(params["b_O"]))      # (S1-S6)
    active = np.repeat(active_mod, spec.module_sizes, axis=1)      # (L, H)
    cache = SelectionCache(x=x, h_init=h_in, r=r, h=h, th=th, g=g, active=active, reset=reset,
                           t0=t0, h_init_given=h_init is not None, backend="numba")
    return y, cache


def backward_select_numba(params: dict, spec: SelectionSpec, dy: np.ndarray,
                          cache: SelectionCache, dh_last=None) -> dict:
    r"""Hand-derived BPTT for the soft selection in one Numba call; wraps
    :func:`cwrnn_np.kernels.selection.select_backward_kernel`.

    Same parameters, returns and equations (SB1–SB9) as :func:`backward_select_numpy`: the
    output-layer gradients (SB1) are matrix products here, the recurrence (SB2–SB9) is the
    kernel, which visits only the active modules and groups, and reads and writes only the
    wired blocks of W_H and the routed rows of W_I (so the weights are passed unmasked). Reads
    only the cache fields both backends fill, so either forward's cache works.
    """
    x, h = cache.x, cache.h
    L, B, _ = x.shape
    H, O = spec.hidden_size, spec.output_size
    dtype = params["W_H"].dtype
    layout = _layout(spec)
    active_mod = cache.active[:, layout[0][:-1]]                   # (L, n) clock c_t
    dy2 = dy.reshape(L * B, O)                                     # (L B, O)
    h2 = _c(h, dtype)
    # output layer (SB1): y_t = W_O h_t + b_O
    dW_O = dy2.T @ h2.reshape(L * B, H)                            # (O, H)
    db_O = dy2.sum(axis=0)                                         # (O,)
    eps = np.zeros((B, H), dtype) if dh_last is None else _c(dh_last, dtype)
    W_I = _c(params["W_I"], dtype)
    dW_IT, dW_H, db_H, dW_S, db_S, dx, dh_init, dr = _kernels().select_backward_kernel(
        _c(x, dtype), _c(cache.h_init, dtype), _c(cache.r, dtype), h2, _c(cache.th, dtype),
        _c(cache.g, dtype), _c(cache.reset, np.bool_), _c(active_mod, np.bool_), *layout,
        W_I, np.ascontiguousarray(W_I.T), _c(params["W_H"], dtype),
        _c(params["W_S"]), spec.temperature, _c(dy, dtype), _c(params["W_O"]),
        eps)                                                       # (SB2-SB9)
    # the kernel writes only routed rows and wired blocks; the masks are applied as in the
    # reference, so every other entry is an exact zero of the reference's dtype
    grads = {"W_I": np.where(spec.base.M_I, dW_IT.T, 0).astype(dtype, copy=False),
             "W_H": np.where(spec.base.M_H, dW_H, 0).astype(dtype, copy=False),
             "b_H": db_H, "W_O": dW_O, "b_O": db_O, "W_S": dW_S, "b_S": db_S,
             "x": dx, "h_init": dh_init}
    if spec.learn_h0:
        # h_0 is the reset state, and also the initial state when no h_init was passed
        grads["h_0"] = dr + (0 if cache.h_init_given else dh_init.sum(axis=0))
    return grads


# ----- public entry points --------------------------------------------------------------------

#: backend name -> (forward, backward), with the signatures of the numpy reference.
SELECT_BACKENDS = {"numpy": (forward_select_numpy, backward_select_numpy),
                   "numba": (forward_select_numba, backward_select_numba)}


def _backend(name):
    if name not in SELECT_BACKENDS:
        raise ValueError(f"backend must be one of {sorted(SELECT_BACKENDS)}, got {name!r}")
    return SELECT_BACKENDS[name]


def forward_select(params: dict, spec: SelectionSpec, x: np.ndarray, h_init=None, t0: int = 0,
                   resets=None, backend: str = "numba"):
    r"""Run a CW-RNN with soft selection over a sequence (chunk); the API of
    :func:`cwrnn_np.forward` (``h_init`` (B, H), ``t0``, ``resets``, ``cache.h_last``).

    Equations S1–S6 (module docstring, ``docs/variants.md``).
    """
    fwd, _ = _backend(backend)
    if not isinstance(spec, SelectionSpec):
        raise ValueError(f"spec must be a SelectionSpec, got {type(spec).__name__}")
    _, flags = validate_call(params, spec, x, h_init, t0, resets, state_size=spec.hidden_size)
    return fwd(params, spec, x, h_init, int(t0), flags)


def backward_select(params: dict, spec: SelectionSpec, dy: np.ndarray, cache: SelectionCache,
                    dh_last=None, backend: str = "numba") -> dict:
    r"""BPTT through :func:`forward_select` (SB1–SB9); the API of :func:`cwrnn_np.backward`.
    Either backend's cache works with either backward."""
    _, bwd = _backend(backend)
    if not isinstance(spec, SelectionSpec):
        raise ValueError(f"spec must be a SelectionSpec, got {type(spec).__name__}")
    validate_backward_call(params, spec, dy, cache, dh_last, SelectionCache, "forward_select",
                           state_size=spec.hidden_size)
    if isinstance(cache, SelectionCache) and cache.g.shape[2] != len(spec.select_modules):
        raise ValueError(f"cache was made for {cache.g.shape[2]} selection rows, but spec has "
                         f"{len(spec.select_modules)}")
    return bwd(params, spec, dy, cache, dh_last)


def gradcheck_select(params: dict, spec: SelectionSpec, x: np.ndarray, *, h_init=None,
                     t0: int = 0, resets=None, backend: str = "numba", rng=None,
                     mode: str = "both", eps: float = 1e-3, floor=None, n_directions: int = 3,
                     max_entries: int | None = None) -> GradcheckReport:
    """Audit :func:`backward_select` against finite differences of :func:`forward_select`
    (the audit of :func:`cwrnn_np.gradcheck`: float64, sixth-order stencil, relative error,
    random upstream gradients on y and on the last state)."""
    return audit(
        lambda p, xx, h: forward_select(p, spec, xx, h, t0, resets, backend=backend),
        lambda p, dy, c, dh: backward_select(p, spec, dy, c, dh_last=dh, backend=backend),
        params, spec.param_masks(), x, h_init=h_init, rng=rng, mode=mode, eps=eps,
        floor=floor, n_directions=n_directions, max_entries=max_entries, who="gradcheck_select")
