r"""Argument checks shared by every model family and by the command line.

Each check raises ``ValueError`` naming the field and the bad value. The model families'
validating entry points (``cwrnn_np.models.*.api``) call :func:`validate_call` before a forward
pass and :func:`validate_backward_call` before a backward pass; the same scalar checks
(:func:`check_int`, :func:`check_bool`, :func:`check_positive_float`) serve the specs.

Shape letters: L time, B batch, D input, O output.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["check_int", "check_count", "check_bool", "check_positive_float", "check_array", "reset_flags",
           "validate_call", "validate_backward_call"]


def check_int(value, field: str, minimum: int) -> int:
    """``value`` as an int; it must be an integer (not a bool) and at least ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{field} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{field} must be >= {minimum}, got {value!r}")
    return int(value)


def check_count(value, field: str, minimum: int = 1) -> int:
    """``value`` as an int; it must be an integer (not a bool) and at least ``minimum``, with one
    message for both faults (sizes, counts and lengths of the schedules and data sets)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral) \
            or value < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_bool(value, field: str) -> bool:
    """``value`` as a bool; it must be a Python or NumPy bool."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{field} must be a bool, got {value!r}")
    return bool(value)


def check_positive_float(value, field: str) -> float:
    """``value`` as a float; it must be a finite real number > 0 (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{field} must be a finite number > 0, got {value!r}")
    return float(value)


def check_array(value, field, shape, dtype):
    """``value`` must be a finite ndarray of ``shape`` (None entries: any size) and ``dtype``."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{field} must be a numpy array, got {type(value).__name__}")
    if value.ndim != len(shape):
        raise ValueError(f"{field} must have rank {len(shape)} (shape {fmt_shape(shape)}), "
                         f"got rank {value.ndim} with shape {value.shape}")
    for axis, (want, got) in enumerate(zip(shape, value.shape)):
        if want is not None and want != got:
            raise ValueError(f"{field} must have shape {fmt_shape(shape)}, got {value.shape} "
                             f"(axis {axis} is {got}, expected {want})")
    if value.dtype != dtype:
        raise ValueError(f"{field} must have dtype {dtype} (the parameters' dtype), "
                         f"got {value.dtype}")
    if not np.isfinite(value).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(value))[0])
        raise ValueError(f"{field} contains NaN or inf (first at index {bad}: {value[bad]})")


def fmt_shape(shape):
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


def validate_call(params, spec, x, h_init, t0, resets, state_size: int):
    """The checks every family's forward call shares: params against ``spec.param_shapes()``,
    x (L >= 1, B >= 1, D, dtype, finite), h_init (B, ``state_size``), t0 and resets."""
    from .params import validate_params  # params imports spec, which imports this module

    dtype = validate_params(params, spec)
    if isinstance(x, np.ndarray) and x.ndim == 3 and x.shape[0] == 0:
        raise ValueError(f"x is an empty sequence (L = 0, shape {x.shape}); need L >= 1")
    if isinstance(x, np.ndarray) and x.ndim == 3 and x.shape[1] == 0:
        raise ValueError(f"x has an empty batch (B = 0, shape {x.shape}); need B >= 1")
    check_array(x, "x", (None, None, spec.input_size), dtype)
    L, B, _ = x.shape
    if h_init is not None:
        check_array(h_init, "h_init", (B, state_size), dtype)
    if isinstance(t0, (bool, np.bool_)) or not isinstance(t0, numbers.Integral) or t0 < 0:
        raise ValueError(f"t0 must be an integer >= 0, got {t0!r}")
    return dtype, reset_flags(resets, L)


def validate_backward_call(params, spec, dy, cache, dh_last, cache_type, made_by: str,
                           state_size: int):
    """The checks every family's backward call shares: the cache's type and state width,
    params, dy (L, B, O) and dh_last (B, ``state_size``)."""
    if not isinstance(cache, cache_type):
        raise ValueError(f"cache must be the {cache_type.__name__} returned by {made_by}, "
                         f"got {type(cache).__name__}")
    from .params import validate_params  # params imports spec, which imports this module

    dtype = validate_params(params, spec)
    L, B, _ = cache.x.shape
    if cache.h.shape[2] != state_size:
        raise ValueError(f"cache was made for a state of width {cache.h.shape[2]}, but spec "
                         f"has a state of width {state_size}")
    check_array(dy, "dy", (L, B, spec.output_size), dtype)
    if dh_last is not None:
        check_array(dh_last, "dh_last", (B, state_size), dtype)
