r"""What a CW-RNN with soft selection is (:class:`SelectionSpec`), and its initial parameters.

The design note's "multiple RNNs at same speed … blurry selection between them": groups of
K >= 2 modules that share one clock, on top of an ordinary :class:`~cwrnn_np.ClockworkSpec`.
``docs/variants.md`` has the equations (S1–S6) and their BPTT (SB1–SB9).

Shape letters: D input, H hidden, O output, n modules, S selection rows (one per grouped
module), K modules in a group.
"""
from __future__ import annotations

import dataclasses
import numbers
from functools import cached_property

import numpy as np

from ...params import init_params
from ...spec import ClockworkSpec, OnClockworkBase
from ...validation import check_positive_float

__all__ = ["SelectionSpec", "group_modules", "init_select_params"]


@dataclasses.dataclass(frozen=True)
class SelectionSpec(OnClockworkBase):
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
                           check_positive_float(self.temperature, "temperature"))

    # the base's phases (a group shares one clock)
    phases = property(lambda self: self.base.phases)

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
