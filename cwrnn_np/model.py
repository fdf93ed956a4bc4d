r"""Public, validating entry points: :func:`forward` and :func:`backward`.

They check every argument (raising ``ValueError`` that names the field and the bad value), then
call a backend: ``"numba"`` (the default) runs the compiled kernels of
:mod:`cwrnn_np.numba_backend`, which do only the work the clock requires; ``"numpy"`` is the
readable reference in :mod:`cwrnn_np.reference`. Both give the same results (relative 1e-12 in
float64; inactive modules held bitwise and structural zeros exact either way).

Shape letters: L time, B batch, D input, H hidden, O output.
"""
from __future__ import annotations

import numbers

import numpy as np

from .numba_backend import backward_numba, forward_numba
from .params import validate_params
from .reference import ForwardCache, backward_numpy, forward_numpy
from .spec import ClockworkSpec

__all__ = ["forward", "backward", "BACKENDS", "DEFAULT_BACKEND", "validate_inputs", "reset_flags"]

#: backend name -> (forward, backward); every backend has the signatures of the numpy reference.
#: ``"numba"`` imports Numba on its first call (cwrnn_np.numba_backend), not at ``import cwrnn_np``.
BACKENDS = {"numpy": (forward_numpy, backward_numpy),
            "numba": (forward_numba, backward_numba)}

#: the backend used when none is named
DEFAULT_BACKEND = "numba"


def _backend(name):
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}, got {name!r}")
    return BACKENDS[name]


def _check_array(value, field, shape, dtype):
    """``value`` must be a finite ndarray of ``shape`` (None entries: any size) and ``dtype``."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{field} must be a numpy array, got {type(value).__name__}")
    if value.ndim != len(shape):
        raise ValueError(f"{field} must have rank {len(shape)} (shape {_fmt(shape)}), "
                         f"got rank {value.ndim} with shape {value.shape}")
    for axis, (want, got) in enumerate(zip(shape, value.shape)):
        if want is not None and want != got:
            raise ValueError(f"{field} must have shape {_fmt(shape)}, got {value.shape} "
                             f"(axis {axis} is {got}, expected {want})")
    if value.dtype != dtype:
        raise ValueError(f"{field} must have dtype {dtype} (the parameters' dtype), "
                         f"got {value.dtype}")
    if not np.isfinite(value).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        raise ValueError(f"{field} contains NaN or inf (first at index {bad}: {value[bad]})")


def _fmt(shape):
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def reset_flags(resets, L: int) -> np.ndarray:
    """(L,) bool from a list of reset steps, each an integer in ``0..L-1``."""
    flags = np.zeros(L, dtype=bool)
    if resets is None:
        return flags
    if isinstance(resets, np.ndarray) and resets.dtype == np.bool_:
        raise ValueError("resets must be a list of step indices, not a boolean mask; "
                         "use np.flatnonzero(mask)")
    try:
        steps = list(resets)
    except TypeError:
        raise ValueError(f"resets must be a list of integer steps, got {resets!r}") from None
    for s in steps:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise ValueError(f"resets entries must be integers, got {s!r}")
        if not 0 <= s < L:
            raise ValueError(f"resets entry {s} is out of range: steps run 0..{L - 1} (L={L})")
        flags[int(s)] = True
    return flags


def validate_inputs(params, spec, x, h_init=None, t0=0, resets=None):
    """Validate a forward call; return ``(dtype, reset flags)``."""
    if not isinstance(spec, ClockworkSpec):
        raise ValueError(f"spec must be a ClockworkSpec, got {type(spec).__name__}")
    return validate_call(params, spec, x, h_init, t0, resets, state_size=spec.hidden_size)


def validate_call(params, spec, x, h_init, t0, resets, state_size: int):
    """The checks every family's forward call shares: params against ``spec.param_shapes()``,
    x (L >= 1, B >= 1, D, dtype, finite), h_init (B, ``state_size``), t0 and resets."""
    dtype = validate_params(params, spec)
    if isinstance(x, np.ndarray) and x.ndim == 3 and x.shape[0] == 0:
        raise ValueError(f"x is an empty sequence (L = 0, shape {x.shape}); need L >= 1")
    if isinstance(x, np.ndarray) and x.ndim == 3 and x.shape[1] == 0:
        raise ValueError(f"x has an empty batch (B = 0, shape {x.shape}); need B >= 1")
    _check_array(x, "x", (None, None, spec.input_size), dtype)
    L, B, _ = x.shape
    if h_init is not None:
        _check_array(h_init, "h_init", (B, state_size), dtype)
    if isinstance(t0, (bool, np.bool_)) or not isinstance(t0, numbers.Integral) or t0 < 0:
        raise ValueError(f"t0 must be an integer >= 0, got {t0!r}")
    return dtype, reset_flags(resets, L)


def forward(params: dict, spec: ClockworkSpec, x: np.ndarray, h_init=None, t0: int = 0,
            resets=None, backend: str = DEFAULT_BACKEND):
    r"""Run a Clockwork RNN over a sequence (or one chunk of it).

    Parameters
    ----------
    params : dict
        ``W_I`` (H, D), ``W_H`` (H, H), ``b_H`` (H,), ``W_O`` (O, H), ``b_O`` (O,) and, if
        ``spec.learn_h0``, ``h_0`` (H,); all float64 or all float32.
    spec : ClockworkSpec
    x : (L, B, D) array of the parameters' dtype, finite, L >= 1.
    h_init : (B, H) array or None
        The carried-in state :math:`h_{-1}`; default the reset state r (:math:`h_0` or zeros).
    t0 : int >= 0
        Clock offset: step t of this call is global step t0 + t.
    resets : list of int or None
        Steps s (0 <= s < L) at which the state entering step s is replaced by r.
    backend : ``"numba"`` (default) or ``"numpy"``
        ``"numpy"`` is the readable reference (:mod:`cwrnn_np.reference`); ``"numba"`` runs the
        same equations in one compiled call per sequence, computing only the modules the clock
        activates and the blocks the wiring allows (:mod:`cwrnn_np.numba_backend`). Same API and
        results (to rounding; inactive modules held bitwise either way).

    Returns
    -------
    y : (L, B, O) outputs.
    cache : ForwardCache
        Pass it to :func:`backward`. ``cache.h_last`` (B, H) is the last state: to continue the
        sequence, call ``forward(params, spec, x_next, h_init=cache.h_last, t0=t0 + L)``, which
        gives exactly what one call over the whole sequence gives.

    Notes
    -----
    Equations M1–M6 of ``docs/model.md``; see :func:`cwrnn_np.reference.forward_numpy`.
    """
    fwd, _ = _backend(backend)
    _, flags = validate_inputs(params, spec, x, h_init, t0, resets)
    return fwd(params, spec, x, h_init, int(t0), flags)


def backward(params: dict, spec: ClockworkSpec, dy: np.ndarray, cache: ForwardCache,
             dh_last=None, backend: str = DEFAULT_BACKEND) -> dict:
    r"""Gradients of a scalar loss through the forward call that made ``cache`` (BPTT).

    Parameters
    ----------
    params, spec : the same as for :func:`forward`
    dy : (L, B, O) upstream gradient :math:`\partial\ell/\partial y_t` (e.g. from a loss in
        :mod:`cwrnn_np.losses`).
    cache : ForwardCache from :func:`forward`
    dh_last : (B, H) or None
        Extra upstream gradient on ``cache.h_last``: pass the next chunk's ``grads["h_init"]`` to
        backpropagate across chunks exactly.
    backend : ``"numba"`` (default) or ``"numpy"``
        As for :func:`forward`; either backend's cache works with either backward.

    Returns
    -------
    grads : dict
        One entry per parameter (same shapes; structurally masked entries exactly 0), plus
        ``"x"`` (L, B, D) and ``"h_init"`` (B, H), the gradient on the carried-in state (zero if
        step 0 is a reset). When ``spec.learn_h0`` and no ``h_init`` was passed, ``"h_0"``
        already includes the batch sum of ``"h_init"``: do not add it twice.

    Notes
    -----
    Equations B1–B10 of ``docs/bptt.md``; see :func:`cwrnn_np.reference.backward_numpy`.
    """
    _, bwd = _backend(backend)
    validate_backward_call(params, spec, dy, cache, dh_last, ForwardCache, "forward",
                           state_size=spec.hidden_size)
    return bwd(params, spec, dy, cache, dh_last)


def validate_backward_call(params, spec, dy, cache, dh_last, cache_type, made_by: str,
                           state_size: int):
    """The checks every family's backward call shares: the cache's type and state width,
    params, dy (L, B, O) and dh_last (B, ``state_size``)."""
    if not isinstance(cache, cache_type):
        raise ValueError(f"cache must be the {cache_type.__name__} returned by {made_by}, "
                         f"got {type(cache).__name__}")
    dtype = validate_params(params, spec)
    L, B, _ = cache.x.shape
    if cache.h.shape[2] != state_size:
        raise ValueError(f"cache was made for a state of width {cache.h.shape[2]}, but spec "
                         f"has a state of width {state_size}")
    _check_array(dy, "dy", (L, B, spec.output_size), dtype)
    if dh_last is not None:
        _check_array(dh_last, "dh_last", (B, state_size), dtype)
