r"""Parameters of a Clockwork RNN: initialisation and validation.

Names and shapes follow the paper (Koutník et al. 2014, §3):

======== ========== ==========================================
name     shape      role
======== ========== ==========================================
``W_I``  (H, D)     input weights; rows of unrouted modules are 0
``W_H``  (H, H)     recurrent weights; blocks with C[i, j] = 0 are 0
``b_H``  (H,)       hidden bias
``W_O``  (O, H)     output weights (read every module)
``b_O``  (O,)       output bias
``h_0``  (H,)       learned initial/reset state (only if ``spec.learn_h0``)
======== ========== ==========================================
"""
from __future__ import annotations

import numpy as np

from .spec import ClockworkSpec

__all__ = ["init_params", "validate_params", "fold_h0", "FLOAT_DTYPES"]

FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def init_params(spec: ClockworkSpec, rng: np.random.Generator, dtype=np.float64,
                scale: float = 1.0) -> dict:
    r"""Random parameters for ``spec``; structurally masked entries are exactly zero.

    Parameters
    ----------
    spec : ClockworkSpec
    rng : numpy.random.Generator
        Source of randomness (``np.random.default_rng(seed)``); nothing global is used.
    dtype : float64 (default) or float32
    scale : float
        Multiplies every weight's standard deviation.

    Notes
    -----
    Each free entry of a weight row is drawn from :math:`\mathcal N(0, s^2 / f)`, where f is the
    row's fan-in counted over *free* entries only (so a module that reads few others is not
    under-scaled) and s = ``scale``. Biases and :math:`h_0` start at zero. The fan-in rule keeps
    the pre-activations of order one at the start of training, so tanh does not saturate.
    """
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float64 or float32, got {dtype}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    H, D, O = spec.hidden_size, spec.input_size, spec.output_size

    def masked_normal(mask):
        fan_in = np.maximum(mask.sum(axis=1, keepdims=True), 1)  # (rows, 1)
        w = rng.standard_normal(mask.shape) * (scale / np.sqrt(fan_in))
        return np.where(mask, w, 0.0).astype(dtype)

    params = {
        "W_I": masked_normal(spec.M_I),
        "W_H": masked_normal(spec.M_H),
        "b_H": np.zeros(H, dtype),
        "W_O": masked_normal(np.ones((O, H), dtype=bool)),
        "b_O": np.zeros(O, dtype),
    }
    if spec.learn_h0:
        params["h_0"] = np.zeros(H, dtype)
    return params


def validate_params(params, spec) -> np.dtype:
    """Check names, shapes and dtypes of ``params`` against ``spec`` (anything with
    ``param_shapes()``: a ClockworkSpec or an LSTMSpec); return the common dtype.

    Raises ``ValueError`` naming the missing, unexpected or misshaped entry.
    """
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict of arrays, got {type(params).__name__}")
    shapes = spec.param_shapes()
    missing = [k for k in shapes if k not in params]
    if missing:
        raise ValueError(f"params is missing {missing} (expected keys {list(shapes)})")
    extra = [k for k in params if k not in shapes]
    if extra:
        hint = ""
        if "h_0" in extra:
            hint = " (spec.learn_h0 is False)"
        elif any(k in extra for k in ("p_i", "p_f", "p_o")):
            hint = " (spec.peepholes is False)"
        raise ValueError(f"params has unexpected keys {extra}{hint}")
    dtype = None
    for name, shape in shapes.items():
        p = params[name]
        if not isinstance(p, np.ndarray):
            raise ValueError(f"params[{name!r}] must be a numpy array, got {type(p).__name__}")
        if p.shape != shape:
            raise ValueError(f"params[{name!r}] must have shape {shape}, got {p.shape}")
        if p.dtype not in FLOAT_DTYPES:
            raise ValueError(f"params[{name!r}] must be float64 or float32, got {p.dtype}")
        if dtype is None:
            dtype = p.dtype
        elif p.dtype != dtype:
            raise ValueError(f"params[{name!r}] has dtype {p.dtype} but the other parameters "
                             f"are {dtype}; use one dtype throughout")
    return dtype


def fold_h0(dr: np.ndarray, dh_init: np.ndarray, h_init_given: bool) -> np.ndarray:
    r"""The gradient of a learned :math:`h_0` (S,): the reset state's gradient ``dr`` (S,), plus
    the batch sum of ``dh_init`` (B, S) when no ``h_init`` was passed, because :math:`h_0` was
    then also the initial state of every sequence (B10 in ``docs/bptt.md``; LB10, SB9 and PB10
    for the other families)."""
    return dr + (0 if h_init_given else dh_init.sum(axis=0))
