r"""Audit hand-derived gradients against float64 finite differences.

Two checks, in the manner of CS231n's ``eval_numerical_gradient_array`` and HIPS/autograd's
``check_vjp`` (``docs/bptt.md`` §"Auditing"):

* **element-wise**: every free entry of every parameter, of ``x`` and of ``h_init`` is nudged
  and the scalar objective re-evaluated;
* **random direction**: for random unit directions v over all of them at once, the numeric
  directional derivative :math:`\langle u, J v\rangle` is compared with the analytic
  :math:`\langle J^\top u, v\rangle`. It costs six forward passes per direction at any size.

The objective is a random linear functional of everything the forward pass returns,

.. math:: f(\theta) = \sum_{t,b,o} u_{t,b,o}\, y_{t,b,o} + \sum_{b,h} w_{b,h}\, h_{L-1,b,h},

with u, w drawn from N(0, 1) (never all ones, which would hide sign and permutation bugs), so its
analytic gradient is ``backward(params, spec, dy=u, cache, dh_last=w)``.

Derivatives use a sixth-order central difference: Richardson extrapolation of the fourth-order
stencil,

.. math::

    D(\eta) = \frac{8\,[f(\eta) - f(-\eta)] - [f(2\eta) - f(-2\eta)]}{12 \eta}, \qquad
    f' \approx \frac{16\, D(\eta) - D(2\eta)}{15},

with step :math:`\eta = 10^{-3}` (six evaluations of f per entry). Its truncation error is
:math:`O(\eta^6)`, negligible here; what remains is rounding, about
:math:`1.7\,\varepsilon_{\text{mach}} |f| / \eta \approx 4 \times 10^{-13} |f|` in absolute terms.

The relative error of an entry is

.. math:: e = \frac{|a - \nu|}{\max(|a|, |\nu|, \kappa)}

with a the analytic and :math:`\nu` the numeric value. The floor :math:`\kappa` (default
:math:`10^{-6}(1 + |f|)`) sits above the rounding level: for an entry at the floor, rounding alone
gives :math:`e \lesssim 4 \times 10^{-7}`, and for larger entries proportionally less. Below the
floor the check becomes absolute, :math:`|a - \nu| \le 10^{-6}\,\kappa`. Measured on 300
Hypothesis-drawn problems (about 16,000 entries, ``docs/bptt.md``): worst e about
:math:`10^{-8}`, and every entry below the floor was exactly zero both ways (a structurally
unreachable parameter).
"""
from __future__ import annotations

import dataclasses

import numpy as np


__all__ = ["gradcheck", "audit", "GradcheckReport", "relative_error"]


def relative_error(a, n, floor):
    r"""Element-wise :math:`|a - n| / \max(|a|, |n|, \kappa)` with :math:`\kappa` = ``floor``."""
    a, n = np.asarray(a, float), np.asarray(n, float)
    return np.abs(a - n) / np.maximum(np.maximum(np.abs(a), np.abs(n)), floor)


@dataclasses.dataclass
class GradcheckReport:
    """Result of :func:`gradcheck`.

    Attributes
    ----------
    max_rel_error : the worst relative error over every check made.
    worst : (name, index, analytic, numeric) of the worst entry; name is ``"direction k"`` for
        a random-direction check.
    per_name : name -> worst element-wise relative error for that array.
    directions : per random direction, (analytic, numeric, relative error).
    masked_nonzero : names of arrays whose structurally masked entries got a non-zero gradient
        (must be empty).
    n_checked : number of element-wise entries compared.
    """

    max_rel_error: float = 0.0
    worst: tuple = ("", (), 0.0, 0.0)
    per_name: dict = dataclasses.field(default_factory=dict)
    directions: list = dataclasses.field(default_factory=list)
    masked_nonzero: list = dataclasses.field(default_factory=list)
    n_checked: int = 0

    def passed(self, tol: float = 1e-6) -> bool:
        """True iff every error is at most ``tol`` and no masked entry has a gradient."""
        return self.max_rel_error <= tol and not self.masked_nonzero

    def _update(self, name, index, a, n, err):
        if err >= self.max_rel_error:
            self.max_rel_error = float(err)
            self.worst = (name, tuple(int(i) for i in index), float(a), float(n))

    def __str__(self):
        name, index, a, n = self.worst
        lines = [f"gradcheck: max relative error {self.max_rel_error:.3e} at {name}{list(index)} "
                 f"(analytic {a:.12e}, numeric {n:.12e}); {self.n_checked} entries, "
                 f"{len(self.directions)} directions"]
        for key, err in self.per_name.items():
            lines.append(f"  {key:>8s}: {err:.3e}")
        for k, (a, n, err) in enumerate(self.directions):
            lines.append(f"  direction {k}: analytic {a:.12e} numeric {n:.12e} error {err:.3e}")
        if self.masked_nonzero:
            lines.append(f"  NON-ZERO GRADIENT ON STRUCTURAL ZEROS: {self.masked_nonzero}")
        return "\n".join(lines)


def _stencil(f, eps):
    """Sixth-order central difference of the scalar function f(s) at s = 0.

    Richardson extrapolation of the fourth-order stencil D(s) = (8 d(s) - d(2s)) / (12 s),
    d(s) = f(s) - f(-s): D6 = (16 D(eps) - D(2 eps)) / 15, six evaluations of f. The symmetric
    differences are formed first, so a function that does not depend on s gives exactly zero.
    """
    d1, d2, d4 = (f(k * eps) - f(-k * eps) for k in (1, 2, 4))
    D_h = (8 * d1 - d2) / (12 * eps)
    D_2h = (8 * d2 - d4) / (24 * eps)
    return (16 * D_h - D_2h) / 15


def gradcheck(params: dict, spec, x: np.ndarray, *, h_init=None, t0: int = 0,
              resets=None, backend: str = "numba", rng=None, mode: str = "both",
              eps: float = 1e-3, floor=None, n_directions: int = 3,
              max_entries: int | None = None) -> GradcheckReport:
    r"""Compare a family's backward pass with finite differences of its forward pass.

    The spec's type picks the family (:func:`cwrnn_np.models.family_of`): a
    :class:`~cwrnn_np.ClockworkSpec` audits :func:`cwrnn_np.backward` against
    :func:`cwrnn_np.forward`, an ``LSTMSpec`` the LSTM, and so on.

    Parameters
    ----------
    params, spec, x, h_init, t0, resets, backend : as for :func:`cwrnn_np.forward`; float64 only.
        (The LSTM ignores ``t0``: it has no clock.)
    rng : numpy.random.Generator, optional
        Draws the upstream gradients u (L, B, O), w (B, S), the directions and any sampling of
        entries. Default ``np.random.default_rng(0)``.
    mode : ``"elementwise"``, ``"direction"`` or ``"both"`` (default).
    eps : float
        Finite-difference step :math:`\eta` (default 1e-3, sixth-order stencil).
    floor : float, optional
        :math:`\kappa` in the relative error; default ``1e-6 * (1 + |f|)``.
    n_directions : int
        Number of random directions.
    max_entries : int, optional
        Check at most this many randomly chosen free entries per array (all by default).

    Returns
    -------
    GradcheckReport
        ``report.max_rel_error`` and ``report.worst`` name the worst entry;
        ``report.passed(1e-6)`` is the audit's verdict.
    """
    from .models import family_of  # the registry sits above this module: import at call time

    return family_of(spec).gradcheck(
        params, spec, x, h_init=h_init, t0=t0, resets=resets, backend=backend, rng=rng,
        mode=mode, eps=eps, floor=floor, n_directions=n_directions, max_entries=max_entries,
        who="gradcheck")


def audit(fwd, bwd, params: dict, masks: dict, x: np.ndarray, *, h_init=None, rng=None,
          mode: str = "both", eps: float = 1e-3, floor=None, n_directions: int = 3,
          max_entries: int | None = None, who: str = "audit") -> GradcheckReport:
    r"""The audit behind :func:`gradcheck`, for any model with the forward/backward API.

    Parameters
    ----------
    fwd : ``fwd(params, x, h_init) -> (y, cache)`` with ``cache.h_last`` the last state
    bwd : ``bwd(params, dy, cache, dh_last) -> grads`` (keys of params, ``"x"``, ``"h_init"``)
    params : dict of float64 arrays; masks : name -> boolean mask of free entries, or None
    x, h_init, rng, mode, eps, floor, n_directions, max_entries : as for :func:`gradcheck`
    who : the caller's name, for error messages
    """
    if mode not in ("elementwise", "direction", "both"):
        raise ValueError(f"mode must be 'elementwise', 'direction' or 'both', got {mode!r}")
    bad = [k for k, v in params.items() if v.dtype != np.float64]
    if bad or x.dtype != np.float64:
        raise ValueError(f"{who} audits float64 only (float32 finite differences cannot "
                         f"resolve 1e-6); got params {params[bad[0]].dtype if bad else 'float64'}"
                         f", x {x.dtype}")
    rng = np.random.default_rng(0) if rng is None else rng
    y, cache = fwd(params, x, h_init)
    u = rng.standard_normal(y.shape)  # (L, B, O)
    w = rng.standard_normal(cache.h_last.shape)  # (B, state width)
    grads = bwd(params, u, cache, w)

    # the arrays to audit and their structural masks (None: every entry is free)
    arrays = {name: params[name] for name in masks}
    arrays["x"] = x
    if h_init is not None:
        arrays["h_init"] = h_init

    def objective(values):
        p = {k: values[k] for k in params}
        yy, cc = fwd(p, values["x"], values.get("h_init"))
        return float((u * yy).sum() + (w * cc.h_last).sum())

    f0 = float((u * y).sum() + (w * cache.h_last).sum())
    kappa = 1e-6 * (1 + abs(f0)) if floor is None else float(floor)
    report = GradcheckReport()

    for name, mask in masks.items():
        if mask is not None and np.any(grads[name][~mask] != 0):
            report.masked_nonzero.append(name)

    def free_indices(name):
        mask = masks.get(name)
        idx = np.argwhere(np.ones(arrays[name].shape, bool) if mask is None else mask)
        if max_entries is not None and len(idx) > max_entries:
            idx = idx[rng.choice(len(idx), size=max_entries, replace=False)]
        return [tuple(i) for i in idx]

    if mode in ("elementwise", "both"):
        for name, base in arrays.items():
            worst = 0.0
            for index in free_indices(name):
                def f(s, name=name, index=index, base=base):
                    pert = base.copy()
                    pert[index] += s
                    return objective({**arrays, name: pert})
                numeric = _stencil(f, eps)
                analytic = grads[name][index]
                err = float(relative_error(analytic, numeric, kappa))
                worst = max(worst, err)
                report.n_checked += 1
                report._update(name, index, analytic, numeric, err)
            report.per_name[name] = worst

    if mode in ("direction", "both"):
        for k in range(n_directions):
            v = {}
            for name, base in arrays.items():
                d = rng.standard_normal(base.shape)
                if masks.get(name) is not None:
                    d = np.where(masks[name], d, 0.0)
                v[name] = d
            norm = np.sqrt(sum(float((d * d).sum()) for d in v.values()))
            v = {name: d / norm for name, d in v.items()}
            analytic = sum(float((grads[name] * v[name]).sum()) for name in arrays)
            numeric = _stencil(
                lambda s: objective({n: arrays[n] + s * v[n] for n in arrays}), eps)
            err = float(relative_error(analytic, numeric, kappa))
            report.directions.append((analytic, numeric, err))
            report._update(f"direction {k}", (), analytic, numeric, err)
    return report
