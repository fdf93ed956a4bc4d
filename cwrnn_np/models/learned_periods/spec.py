r"""What a CW-RNN with learned periods is (:class:`LearnedPeriodSpec`), and its initial
parameters.

The design note's "let the RNN emit a Gaussian distribution over time periods": every module
holds a distribution over candidate periods, Gaussian in log-period, either as parameters
(the *static* form) or emitted by the network from its state (the *emitted* form).
``docs/variants.md`` has the equations (P1–P7) and their BPTT (PB1–PB10).

Shape letters: D input, H hidden, O output, n modules, P candidate periods.
"""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ...params import init_params
from ...spec import ClockworkSpec, OnClockworkBase
from ...validation import check_positive_float

__all__ = ["LearnedPeriodSpec", "FORMS", "default_candidates", "init_period_params"]

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
class LearnedPeriodSpec(OnClockworkBase):
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
            set_(self, field, check_positive_float(getattr(self, field), field))


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
