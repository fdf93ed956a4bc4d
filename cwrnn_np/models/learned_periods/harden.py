r"""From learned periods back to a hard clock: :func:`module_periods` and :func:`harden`.

As every σ → 0 the period distribution of a module becomes one-hot on the candidate nearest
:math:`e^{\mu_i}`, and the network is an ordinary CW-RNN; :func:`harden` snaps each module to
its most likely period and returns that CW-RNN (``docs/variants.md``).

Shape letters: L time, B batch, D input, n modules, P candidate periods.
"""
from __future__ import annotations

import numpy as np

from ...activations import softplus
from .api import forward_periods
from .reference import period_weights
from .spec import LearnedPeriodSpec

__all__ = ["module_periods", "harden"]


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
