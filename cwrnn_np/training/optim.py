r"""Optimizers: SGD with (Nesterov) momentum, Adam and RMSProp, with gradient clipping and masks.

Koutník et al. 2014 (§4) trained the Clockwork RNN with SGD and Nesterov momentum 0.95; Adam
(Kingma and Ba, ICLR 2015) and RMSProp (Tieleman and Hinton, Coursera lecture 6.5, 2012) are the
usual alternatives. Clipping by global norm follows Pascanu, Mikolov and Bengio (ICML 2013).

An optimizer is a frozen dataclass of hyper-parameters and two pure functions::

    state = opt.init(params)
    params, state = opt.update(params, grads, state, masks=spec.param_masks())

``update`` returns new dicts and never writes into its arguments. The state is a flat dict of
NumPy arrays, so it saves into an ``.npz`` as it is::

    np.savez(path, **state_to_arrays(state))
    state = state_from_arrays(np.load(path))

Its keys are ``"step"`` (a 0-d int64 array, the number of updates made so far) and
``"<slot>/<name>"`` for each per-parameter slot, e.g. ``"m/W_H"`` and ``"v/W_H"`` for Adam; the
slot letter is the symbol used in the optimizer's equations. :func:`state_to_json` and
:func:`state_from_json` give an exact JSON form of the same dict.

Shapes: every per-parameter array has the shape of its parameter (see :mod:`cwrnn_np.params`:
``W_I`` (H, D), ``W_H`` (H, H), ``b_H`` (H,), ``W_O`` (O, H), ``b_O`` (O,), ``h_0`` (H,)).

Inside ``update``, for each parameter in ``params`` (extra gradient keys such as ``"x"`` and
``"h_init"`` are ignored), in this order:

1. the gradient's key and shape are checked, and a non-finite entry raises
   :class:`NonFiniteGradientError` (nothing is clipped away silently);
2. structurally masked entries of the gradient are set to zero, so they count in no norm;
3. clipping by value, then by global norm (:func:`clip_gradients`);
4. the optimizer's rule;
5. masked entries of the parameter and of every slot are set to exactly 0.0.

All arithmetic happens in the parameter's dtype: float32 parameters and state stay float32.

``update(..., backend="numba")`` takes the same steps in the Numba kernels of
:mod:`cwrnn_np.kernels.optim` (steps 2 to 5 in one pass per parameter, imported at the first
such call) and returns the same bits; the NumPy code here is their reference.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import ClassVar, Mapping

import numpy as np

__all__ = [
    "SGD", "Adam", "RMSProp", "Optimizer", "NonFiniteGradientError", "OPTIMIZERS",
    "UPDATE_BACKENDS", "make_optimizer", "clip_gradients", "global_norm",
    "state_to_arrays", "state_from_arrays", "state_to_json", "state_from_json",
]

#: names accepted by :func:`make_optimizer`
OPTIMIZERS = ("sgd", "nesterov", "adam", "rmsprop")

#: the backends of :meth:`Optimizer.update`: the NumPy reference and the Numba kernels
UPDATE_BACKENDS = ("numpy", "numba")

#: the dtypes the kernels take; other floating dtypes (float16, longdouble) run the reference
_KERNEL_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))

#: the paper's momentum for SGD with Nesterov momentum (Koutník et al. 2014, §4)
NESTEROV_MOMENTUM = 0.95


class NonFiniteGradientError(ValueError):
    """A gradient holds NaN or inf; the update was refused.

    Attributes
    ----------
    name : str
        The parameter whose gradient is not finite.
    index : tuple of int
        The first bad entry, in C order.
    value : float
        Its value (nan, inf or -inf).
    step : int
        The update that was refused, counting from 1 (``state["step"] + 1``).
    """

    def __init__(self, name: str, index: tuple, value: float, step: int):
        self.name, self.index, self.value, self.step = name, index, value, step
        super().__init__(f"non-finite gradient for {name!r} at index {index} (value {value}) "
                         f"in update {step}; refusing to update")


# ----- validation helpers ----------------------------------------------------------------------
def _check_real(value, field, lo=None, hi=None, lo_closed=True, hi_closed=False):
    """A finite real number in the interval given, as a Python float; else ValueError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{field} must be a real number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{field} must be finite, got {value!r}")
    if lo is not None and (v < lo or (v == lo and not lo_closed)):
        raise ValueError(f"{field} must be {'>=' if lo_closed else '>'} {lo}, got {value!r}")
    if hi is not None and (v > hi or (v == hi and not hi_closed)):
        raise ValueError(f"{field} must be {'<=' if hi_closed else '<'} {hi}, got {value!r}")
    return v


def _check_clip(value, field):
    if value is None:
        return None
    return _check_real(value, field, lo=0.0, lo_closed=False)


def _check_params(params) -> None:
    if not isinstance(params, Mapping):
        raise ValueError(f"params must be a dict of arrays, got {type(params).__name__}")
    for name, p in params.items():
        if not isinstance(p, np.ndarray) or not np.issubdtype(p.dtype, np.floating):
            raise ValueError(f"params[{name!r}] must be a floating-point numpy array, got "
                             f"{getattr(p, 'dtype', type(p).__name__)}")


def _check_grads(params, grads) -> dict:
    """The gradients of the parameters, as arrays of the parameters' dtypes (extra keys dropped)."""
    if not isinstance(grads, Mapping):
        raise ValueError(f"grads must be a dict of arrays, got {type(grads).__name__}")
    out = {}
    for name, p in params.items():
        if name not in grads:
            raise ValueError(f"grads is missing {name!r} (params has {list(params)}, "
                             f"grads has {list(grads)})")
        g = np.asarray(grads[name])
        if not (np.issubdtype(g.dtype, np.floating) or np.issubdtype(g.dtype, np.integer)):
            raise ValueError(f"grads[{name!r}] must be a real numeric array, got dtype {g.dtype}")
        if g.shape != p.shape:
            raise ValueError(f"grads[{name!r}] must have the shape of params[{name!r}] "
                             f"{p.shape}, got {g.shape}")
        out[name] = g.astype(p.dtype, copy=False)
    return out


def _check_finite(grads: dict, step: int) -> None:
    for name, g in grads.items():
        bad = ~np.isfinite(g)
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise NonFiniteGradientError(name, index, float(g[index]), step)


def _check_masks(params, masks) -> dict:
    """name -> boolean mask (only for parameters in ``params`` that have one)."""
    if masks is None:
        return {}
    if not isinstance(masks, Mapping):
        raise ValueError(f"masks must be a dict of boolean arrays or None, "
                         f"got {type(masks).__name__}")
    out = {}
    for name, p in params.items():
        m = masks.get(name)
        if m is None:
            continue
        m = np.asarray(m)
        if m.dtype != np.bool_ or m.shape != p.shape:
            raise ValueError(f"masks[{name!r}] must be a boolean array of shape {p.shape}, "
                             f"got dtype {m.dtype} shape {m.shape}")
        out[name] = m
    return out


def _check_step(state) -> int:
    if not isinstance(state, Mapping):
        raise ValueError(f"state must be a dict made by init(), got {type(state).__name__}")
    if "step" not in state:
        raise ValueError("state is missing 'step'; make it with opt.init(params)")
    s = np.asarray(state["step"])
    if s.shape != () or not np.issubdtype(s.dtype, np.integer) or int(s) < 0:
        raise ValueError(f"state['step'] must be an integer >= 0, got {state['step']!r}")
    return int(s)


# ----- clipping --------------------------------------------------------------------------------
def global_norm(grads: Mapping[str, np.ndarray]) -> float:
    r"""The global L2 norm :math:`\sqrt{\sum_k \lVert g_k \rVert_2^2}` over the arrays of ``grads``.

    Computed in float64 and scaled by the largest magnitude first, so it neither overflows nor
    underflows. Pass only the parameter gradients (not ``"x"`` or ``"h_init"``), with masked
    entries zeroed, to get the norm that :func:`clip_gradients` uses.
    """
    arrays = [np.asarray(g, dtype=np.float64) for g in grads.values() if np.size(g)]
    if not arrays:
        return 0.0
    peak = max(float(np.max(np.abs(g))) for g in arrays)
    if peak == 0.0 or not math.isfinite(peak):
        return peak
    total = sum(float(np.sum(np.square(g / peak))) for g in arrays)
    return peak * math.sqrt(total)


def clip_gradients(grads: Mapping[str, np.ndarray], clip_value=None, clip_norm=None) -> dict:
    r"""Clip by value, then by global norm; a new dict of new arrays, dtypes kept.

    Parameters
    ----------
    grads : dict of str -> array
        Gradients (each of the shape of its parameter); every entry counts.
    clip_value : float > 0 or None
        :math:`c_v`; None skips the elementwise clip.
    clip_norm : float > 0 or None
        :math:`c_n`; None skips the rescaling.

    Notes
    -----
    .. math::

        g_k &\leftarrow \min(\max(g_k, -c_v), c_v) \\
        g_k &\leftarrow g_k \cdot \min\left(1, \frac{c_n}{\lVert g \rVert}\right), \qquad
        \lVert g \rVert = \sqrt{\textstyle\sum_k \lVert g_k \rVert_2^2}

    where :math:`g_k` is the gradient of parameter k and :math:`\lVert g \rVert` the global norm
    (:func:`global_norm`) after the value clip.

    Value first, then norm: the rescaling is then the last operation, and a single outlier entry
    is cut to :math:`c_v` before it enters the global norm, so it cannot shrink every other
    gradient through the norm (norm first would scale all entries down by the outlier and then
    cut the outlier again). Both bounds hold afterwards: :math:`|g| \le c_v` elementwise and
    :math:`\lVert g \rVert \le c_n` up to rounding.
    """
    clip_value = _check_clip(clip_value, "clip_value")
    clip_norm = _check_clip(clip_norm, "clip_norm")
    out = {name: np.array(g, copy=True) for name, g in grads.items()}
    if clip_value is not None:
        for name, g in out.items():
            c = g.dtype.type(clip_value)
            out[name] = np.clip(g, -c, c)
    if clip_norm is not None:
        norm = global_norm(out)
        if norm > clip_norm:
            scale = clip_norm / norm
            out = {name: g * g.dtype.type(scale) for name, g in out.items()}
    return out


# ----- the optimizers --------------------------------------------------------------------------
class Optimizer:
    """Shared machinery of the optimizers: ``init``, ``update`` and serialisation.

    Subclasses are frozen dataclasses with fields ``lr``, ``clip_norm``, ``clip_value`` and their
    own hyper-parameters; they name their per-parameter slots in :attr:`slots` and implement
    :meth:`_rule` for one parameter array.
    """

    name: ClassVar[str] = ""

    @property
    def slots(self) -> tuple:
        """The per-parameter state arrays, by the symbol used in the equations."""
        return ()

    def _check_common(self):
        set_ = object.__setattr__
        set_(self, "lr", _check_real(self.lr, "lr", lo=0.0, lo_closed=False))
        set_(self, "clip_norm", _check_clip(self.clip_norm, "clip_norm"))
        set_(self, "clip_value", _check_clip(self.clip_value, "clip_value"))

    def init(self, params: Mapping[str, np.ndarray]) -> dict:
        """The state before the first update: step 0 and every slot zero.

        Parameters
        ----------
        params : dict of str -> floating array
            The parameters to be optimised; slots take their shapes and dtypes.

        Returns
        -------
        state : dict
            ``{"step": array(0), "<slot>/<name>": zeros_like(params[name]), ...}``.
        """
        _check_params(params)
        state = {"step": np.array(0, dtype=np.int64)}
        for slot in self.slots:
            for name, p in params.items():
                state[f"{slot}/{name}"] = np.zeros_like(p)
        return state

    def _check_state(self, params, state) -> int:
        step = _check_step(state)
        expected = {"step"} | {f"{s}/{n}" for s in self.slots for n in params}
        missing = sorted(expected - set(state))
        if missing:
            raise ValueError(f"state is missing {missing} for {type(self).__name__}; "
                             f"make it with opt.init(params) for these params")
        extra = sorted(set(state) - expected)
        if extra:
            raise ValueError(f"state has unexpected keys {extra} for {type(self).__name__} "
                             f"(made by another optimizer or for other params?)")
        for slot in self.slots:
            for name, p in params.items():
                key = f"{slot}/{name}"
                a = state[key]
                if not isinstance(a, np.ndarray) or a.shape != p.shape or a.dtype != p.dtype:
                    raise ValueError(
                        f"state[{key!r}] must be a {p.dtype} array of shape {p.shape}, got "
                        f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
        return step

    def update(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
               state: Mapping[str, np.ndarray], masks=None, backend: str = "numpy") -> tuple:
        """One update of every parameter; new dicts, the inputs are left untouched.

        Parameters
        ----------
        params : dict of str -> floating array
            The current parameters.
        grads : dict of str -> array
            A gradient of the shape of each parameter; other keys (``"x"``, ``"h_init"``) are
            ignored. Cast to the parameter's dtype.
        state : dict
            From :meth:`init` or the previous :meth:`update` (or :func:`state_from_arrays`).
        masks : dict of str -> bool array or None, optional
            Structural masks, True = free entry (``spec.param_masks()``); a missing name or None
            means the whole parameter is free; names not in ``params`` are ignored.
        backend : {"numpy", "numba"}, optional
            ``"numpy"`` (default) runs the steps below as NumPy passes, the readable reference;
            ``"numba"`` runs them as the kernels of :mod:`cwrnn_np.kernels.optim`, one pass per
            parameter for the update (see :meth:`_update_numba`). Both give the same bits, and
            the same errors. The kernels take float64 and float32; parameters of another
            floating dtype run the NumPy code on either backend.

        Returns
        -------
        params, state : dict, dict
            Masked entries of the parameters and of every slot are exactly 0.0.

        Raises
        ------
        NonFiniteGradientError
            If a gradient of a parameter has a NaN or inf entry (nothing is updated).
        ValueError
            If a gradient, the state or a mask is missing or misshaped (naming the key), or
            ``backend`` is not one of :data:`UPDATE_BACKENDS`.
        """
        if not isinstance(backend, str) or backend not in UPDATE_BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(UPDATE_BACKENDS)}, "
                             f"got {backend!r}")
        _check_params(params)
        g_all = _check_grads(params, grads)
        step = self._check_state(params, state)
        M = _check_masks(params, masks)
        t = step + 1
        if backend == "numba" and all(p.dtype in _KERNEL_DTYPES for p in params.values()):
            return self._update_numba(params, g_all, state, M, t)
        _check_finite(g_all, t)
        # masked entries take no part in the clipping norm or the moments
        g_all = {n: (np.where(M[n], g, g.dtype.type(0)) if n in M else g)
                 for n, g in g_all.items()}
        g_all = clip_gradients(g_all, self.clip_value, self.clip_norm)
        new_params = {}
        new_state = {"step": np.array(t, dtype=np.int64)}
        for name, theta in params.items():
            slots = {s: state[f"{s}/{name}"] for s in self.slots}
            theta, slots = self._rule(theta, g_all[name], slots, t)
            if name in M:
                zero = theta.dtype.type(0)
                theta = np.where(M[name], theta, zero)
                slots = {s: np.where(M[name], a, zero) for s, a in slots.items()}
            new_params[name] = theta
            for s, a in slots.items():
                new_state[f"{s}/{name}"] = a
        # state keys in the order init() makes them
        ordered = {"step": new_state["step"]}
        ordered.update({f"{s}/{n}": new_state[f"{s}/{n}"] for s in self.slots for n in params})
        return new_params, ordered

    def _update_numba(self, params, g_all, state, M, t) -> tuple:
        """:meth:`update` after validation, on the kernels of :mod:`cwrnn_np.kernels.optim`.

        Three passes per parameter: :func:`~cwrnn_np.kernels.optim.grad_peak_kernel` (the
        finite check, after which the reference's :func:`_check_finite` raises the same
        :class:`NonFiniteGradientError`, and the largest masked, value-clipped entry); with
        ``clip_norm`` set, :func:`~cwrnn_np.kernels.optim.grad_square_kernel` (the squares
        that ``np.sum`` adds as in :func:`global_norm`, so the clip factor is the reference's bit for bit), and the
        optimizer's rule kernel (:meth:`_rule_numba`), which masks, clips, scales and updates
        in one pass and writes new arrays. Arrays are passed flattened in C order; the norm
        equals the reference's bit for bit when the gradients are C-contiguous (as
        ``backward`` makes them; otherwise ``global_norm`` may add in another order).
        """
        from ..kernels.optim import grad_peak_kernel, grad_square_kernel
        no_mask = np.zeros(0, dtype=np.bool_)
        flat = {}                                  # name -> (g, mask, c_v), g and mask (n,)
        peak = 0.0
        for name, g in g_all.items():
            f = g.dtype.type
            c_v = f(math.inf if self.clip_value is None else self.clip_value)
            g_flat = g.ravel()                                       # (n,)
            mask = M[name].ravel() if name in M else no_mask        # (n,) or (0,)
            as_int = np.dtype(f"i{g.itemsize}")                     # same-size integers
            worst, peak_bits = grad_peak_kernel(
                g_flat.view(as_int), mask, int(np.iinfo(as_int).max),
                int(np.array(c_v).view(as_int)))
            if worst >= int(np.array(f(math.inf)).view(as_int)):
                _check_finite({name: g}, t)        # raises the reference's error
            peak = max(peak, float(np.array(peak_bits, dtype=as_int).view(g.dtype)))
            flat[name] = (g_flat, mask, c_v)
        # global_norm(g̃): peak * sqrt(sum_k np.sum((g̃_k / peak)**2)), summed by np.sum itself
        kappa = 1.0
        if self.clip_norm is not None and peak > 0.0:
            q = np.empty(max(g.size for g in g_all.values()), dtype=np.float64)
            total = 0.0
            for name, (g_flat, mask, c_v) in flat.items():
                if g_flat.size:
                    q_k = q[:g_flat.size]                            # (n,)
                    grad_square_kernel(g_flat, mask, c_v, peak, q_k)
                    total += float(np.sum(q_k.reshape(g_all[name].shape)))
            norm = peak * math.sqrt(total)
            if norm > self.clip_norm:
                kappa = self.clip_norm / norm
        new_params, new_state = {}, {"step": np.array(t, dtype=np.int64)}
        for name, theta in params.items():
            g_flat, mask, c_v = flat[name]
            f = theta.dtype.type
            slots = {s: state[f"{s}/{name}"].ravel() for s in self.slots}
            theta_new, slots = self._rule_numba(theta.ravel(), g_flat, mask, c_v, f(kappa),
                                                slots, t)
            new_params[name] = theta_new.reshape(theta.shape)
            for s, a in slots.items():
                new_state[f"{s}/{name}"] = a.reshape(theta.shape)
        ordered = {"step": new_state["step"]}
        ordered.update({f"{s}/{n}": new_state[f"{s}/{n}"] for s in self.slots for n in params})
        return new_params, ordered

    def _rule(self, theta, g, slots, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def _rule_numba(self, theta, g, mask, c_v, kappa, slots, t):  # pragma: no cover - abstract
        """:meth:`_rule` with masking, clipping and scaling, by a kernel on flat (n,) arrays:
        ``(theta_new, {slot: new})``, masked entries 0.0; ``c_v`` (inf: none) and ``kappa``
        (the global-norm factor, 1: none) in the dtype of ``theta``."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        """Hyper-parameters as a JSON-friendly dict; ``make_optimizer(**d)`` rebuilds it."""
        return {"name": self.name, **dataclasses.asdict(self)}


@dataclasses.dataclass(frozen=True)
class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with classical or Nesterov momentum.

    Parameters
    ----------
    lr : float > 0
        Learning rate :math:`\alpha`.
    momentum : float in [0, 1)
        :math:`\mu`; 0 (default) is plain SGD and keeps no velocity.
    nesterov : bool
        Use Nesterov momentum (needs ``momentum > 0``). The paper used ``momentum=0.95``.
    clip_norm, clip_value : float > 0 or None
        Gradient clipping inside :meth:`update` (see :func:`clip_gradients`).

    Notes
    -----
    The velocity form of Sutskever, Martens, Dahl and Hinton (ICML 2013), as in Keras:

    .. math::

        v_t &= \mu v_{t-1} - \alpha g_t \\
        \theta_t &= \theta_{t-1} + v_t
            && \text{(classical momentum)} \\
        \theta_t &= \theta_{t-1} + \mu v_t - \alpha g_t
            && \text{(Nesterov)}

    where :math:`\theta` is a parameter, :math:`g_t = \bar\theta` its (clipped) gradient at
    update t, :math:`v` the velocity (state ``"v/<name>"``, :math:`v_0 = 0`), :math:`\alpha` the
    learning rate and :math:`\mu` the momentum. With :math:`\mu = 0`:
    :math:`\theta_t = \theta_{t-1} - \alpha g_t`. The Nesterov line is Sutskever et al.'s
    reformulation in which the stored parameters are the look-ahead point
    :math:`\theta + \mu v`; for a constant :math:`\alpha` it takes the same steps as PyTorch's
    ``SGD(nesterov=True)``, whose buffer is :math:`b = -v / \alpha`.
    """

    lr: float
    momentum: float = 0.0
    nesterov: bool = False
    clip_norm: float | None = None
    clip_value: float | None = None

    name: ClassVar[str] = "sgd"

    def __post_init__(self):
        self._check_common()
        object.__setattr__(self, "momentum",
                           _check_real(self.momentum, "momentum", lo=0.0, hi=1.0))
        if not isinstance(self.nesterov, (bool, np.bool_)):
            raise ValueError(f"nesterov must be a bool, got {self.nesterov!r}")
        object.__setattr__(self, "nesterov", bool(self.nesterov))
        if self.nesterov and self.momentum == 0.0:
            raise ValueError("momentum must be > 0 when nesterov is True, got 0.0")

    @property
    def slots(self) -> tuple:
        return ("v",) if self.momentum > 0 else ()

    def _rule(self, theta, g, slots, t):
        f = theta.dtype.type
        alpha, mu = f(self.lr), f(self.momentum)
        if not slots:
            return theta - alpha * g, {}
        v = mu * slots["v"] - alpha * g
        if self.nesterov:
            return theta + mu * v - alpha * g, {"v": v}
        return theta + v, {"v": v}

    def _rule_numba(self, theta, g, mask, c_v, kappa, slots, t):
        from ..kernels.optim import momentum_kernel, sgd_kernel
        f = theta.dtype.type
        alpha, mu = f(self.lr), f(self.momentum)
        theta_out = np.empty_like(theta)
        if not slots:
            sgd_kernel(theta, g, mask, c_v, kappa, alpha, theta_out)
            return theta_out, {}
        v_out = np.empty_like(theta)
        momentum_kernel(theta, g, mask, c_v, kappa, alpha, mu, self.nesterov, slots["v"],
                        theta_out, v_out)
        return theta_out, {"v": v_out}


@dataclasses.dataclass(frozen=True)
class Adam(Optimizer):
    r"""Adam with bias correction (Kingma and Ba, ICLR 2015, Algorithm 1).

    Parameters
    ----------
    lr : float > 0
        Step size :math:`\alpha` (default 1e-3).
    beta1, beta2 : float in [0, 1)
        Decay rates :math:`\beta_1, \beta_2` of the moment estimates (default 0.9, 0.999).
    eps : float > 0
        :math:`\varepsilon` (default 1e-8).
    clip_norm, clip_value : float > 0 or None
        Gradient clipping inside :meth:`update` (see :func:`clip_gradients`).

    Notes
    -----
    .. math::

        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) g_t \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) g_t^2 \\
        \hat m_t &= m_t / (1 - \beta_1^t), \qquad \hat v_t = v_t / (1 - \beta_2^t) \\
        \theta_t &= \theta_{t-1} - \alpha\, \hat m_t / (\sqrt{\hat v_t} + \varepsilon)

    where :math:`\theta` is a parameter, :math:`g_t = \bar\theta` its (clipped) gradient at
    update :math:`t = 1, 2, \dots` (``state["step"]`` after the update), :math:`m` and :math:`v`
    the first and second moment estimates (states ``"m/<name>"`` and ``"v/<name>"``, zero at
    :math:`t = 0`), :math:`g_t^2` is elementwise and :math:`\varepsilon` is ``eps`` (not the
    BPTT carry :math:`\epsilon_t`).
    """

    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    clip_norm: float | None = None
    clip_value: float | None = None

    name: ClassVar[str] = "adam"

    def __post_init__(self):
        self._check_common()
        for field in ("beta1", "beta2"):
            object.__setattr__(self, field,
                               _check_real(getattr(self, field), field, lo=0.0, hi=1.0))
        object.__setattr__(self, "eps", _check_real(self.eps, "eps", lo=0.0, lo_closed=False))

    @property
    def slots(self) -> tuple:
        return ("m", "v")

    def _rule(self, theta, g, slots, t):
        f = theta.dtype.type
        b1, b2 = f(self.beta1), f(self.beta2)
        m = b1 * slots["m"] + f(1.0 - self.beta1) * g
        v = b2 * slots["v"] + f(1.0 - self.beta2) * (g * g)
        m_hat = m / f(1.0 - self.beta1 ** t)
        v_hat = v / f(1.0 - self.beta2 ** t)
        theta = theta - f(self.lr) * m_hat / (np.sqrt(v_hat) + f(self.eps))
        return theta, {"m": m, "v": v}

    def _rule_numba(self, theta, g, mask, c_v, kappa, slots, t):
        from ..kernels.optim import adam_kernel
        f = theta.dtype.type
        theta_out, m_out, v_out = (np.empty_like(theta) for _ in range(3))
        adam_kernel(theta, g, mask, c_v, kappa, f(self.lr), f(self.beta1), f(self.beta2),
                    f(1.0 - self.beta1), f(1.0 - self.beta2), f(1.0 - self.beta1 ** t),
                    f(1.0 - self.beta2 ** t), f(self.eps), slots["m"], slots["v"],
                    theta_out, m_out, v_out)
        return theta_out, {"m": m_out, "v": v_out}


@dataclasses.dataclass(frozen=True)
class RMSProp(Optimizer):
    r"""RMSProp (Tieleman and Hinton, Coursera "Neural Networks for Machine Learning", 6.5).

    Parameters
    ----------
    lr : float > 0
        Learning rate :math:`\alpha` (default 1e-3).
    decay : float in [0, 1)
        :math:`\rho`, the decay of the running mean square (default 0.9, as in the lecture).
    eps : float > 0
        :math:`\varepsilon` (default 1e-8).
    clip_norm, clip_value : float > 0 or None
        Gradient clipping inside :meth:`update` (see :func:`clip_gradients`).

    Notes
    -----
    .. math::

        s_t &= \rho\, s_{t-1} + (1 - \rho)\, g_t^2 \\
        \theta_t &= \theta_{t-1} - \alpha\, g_t / (\sqrt{s_t} + \varepsilon)

    where :math:`\theta` is a parameter, :math:`g_t = \bar\theta` its (clipped) gradient,
    :math:`s` the running mean square (state ``"s/<name>"``, :math:`s_0 = 0`, no bias
    correction, as in PyTorch's ``RMSprop``), :math:`g_t^2` is elementwise and
    :math:`\varepsilon` is ``eps``, added outside the square root.
    """

    lr: float = 1e-3
    decay: float = 0.9
    eps: float = 1e-8
    clip_norm: float | None = None
    clip_value: float | None = None

    name: ClassVar[str] = "rmsprop"

    def __post_init__(self):
        self._check_common()
        object.__setattr__(self, "decay", _check_real(self.decay, "decay", lo=0.0, hi=1.0))
        object.__setattr__(self, "eps", _check_real(self.eps, "eps", lo=0.0, lo_closed=False))

    @property
    def slots(self) -> tuple:
        return ("s",)

    def _rule(self, theta, g, slots, t):
        f = theta.dtype.type
        s = f(self.decay) * slots["s"] + f(1.0 - self.decay) * (g * g)
        theta = theta - f(self.lr) * g / (np.sqrt(s) + f(self.eps))
        return theta, {"s": s}

    def _rule_numba(self, theta, g, mask, c_v, kappa, slots, t):
        from ..kernels.optim import rmsprop_kernel
        f = theta.dtype.type
        theta_out, s_out = np.empty_like(theta), np.empty_like(theta)
        rmsprop_kernel(theta, g, mask, c_v, kappa, f(self.lr), f(self.decay),
                       f(1.0 - self.decay), f(self.eps), slots["s"], theta_out, s_out)
        return theta_out, {"s": s_out}


# ----- factory ---------------------------------------------------------------------------------
_CLASSES = {"sgd": SGD, "nesterov": SGD, "adam": Adam, "rmsprop": RMSProp}


def make_optimizer(name: str, **kwargs) -> Optimizer:
    """An optimizer by name (one of :data:`OPTIMIZERS`) with hyper-parameters as keywords.

    ``"nesterov"`` is :class:`SGD` with ``nesterov=True`` and ``momentum`` defaulting to the
    paper's 0.95. ``make_optimizer(**opt.to_dict())`` rebuilds ``opt``. Unknown names or
    keywords raise ``ValueError`` listing the choices.
    """
    if not isinstance(name, str) or name.lower() not in _CLASSES:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    name = name.lower()
    cls = _CLASSES[name]
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = [k for k in kwargs if k not in fields]
    if unknown:
        raise ValueError(f"unknown hyper-parameter(s) {unknown} for optimizer {name!r}; "
                         f"it takes {fields}")
    if name == "nesterov":
        if kwargs.get("nesterov", True) is not True:
            raise ValueError(f"optimizer 'nesterov' needs nesterov=True, "
                             f"got nesterov={kwargs['nesterov']!r}; use 'sgd' instead")
        kwargs = {"momentum": NESTEROV_MOMENTUM, **kwargs, "nesterov": True}
    if cls is SGD and "lr" not in kwargs:
        raise ValueError(f"optimizer {name!r} needs lr (the learning rate)")
    return cls(**kwargs)


# ----- serialisation ---------------------------------------------------------------------------
def state_to_arrays(state: Mapping[str, np.ndarray]) -> dict:
    """A copy of ``state`` as ``str -> np.ndarray``, ready for ``np.savez(path, **arrays)``."""
    _check_step(state)
    return {k: np.array(v, copy=True) for k, v in state.items()}


def state_from_arrays(arrays: Mapping[str, np.ndarray]) -> dict:
    """The state saved by :func:`state_to_arrays` (e.g. an ``np.load`` result), as fresh arrays.

    The optimizer checks keys, shapes and dtypes against the parameters on its next update.
    """
    if not hasattr(arrays, "keys"):
        raise ValueError(f"arrays must be a mapping of str -> array, got {type(arrays).__name__}")
    state = {k: np.array(arrays[k], copy=True) for k in arrays.keys()}
    step = _check_step(state)
    state["step"] = np.array(step, dtype=np.int64)
    for k in state:
        if k != "step" and "/" not in k:
            raise ValueError(f"state key {k!r} is not 'step' or '<slot>/<name>'")
    return state


def state_to_json(state: Mapping[str, np.ndarray]) -> dict:
    """A JSON-friendly copy of ``state``: ``{key: {"dtype", "shape", "data"}}``.

    Python floats print their shortest round-tripping form, so :func:`state_from_json` restores
    every array bit for bit (float32 values are exact in float64).
    """
    out = {}
    for k, v in state_to_arrays(state).items():
        out[k] = {"dtype": v.dtype.str, "shape": list(v.shape), "data": v.ravel().tolist()}
    return out


def state_from_json(d: Mapping) -> dict:
    """Inverse of :func:`state_to_json`."""
    if not isinstance(d, Mapping):
        raise ValueError(f"optimizer state must be a JSON object, got {type(d).__name__}")
    arrays = {}
    for k, entry in d.items():
        try:
            arrays[k] = np.array(entry["data"], dtype=np.dtype(entry["dtype"])).reshape(
                entry["shape"])
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"optimizer state entry {k!r} is malformed: {e}") from None
    return state_from_arrays(arrays)
