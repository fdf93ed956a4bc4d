r"""What a Clockwork RNN is: module sizes, periods, phases, wiring and input routing.

Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §3; the wiring and routing
variants come from the design note (``docs/model.md`` says which is which).

Shape letters (used in every docstring of the package): L time steps, B batch, D inputs,
H hidden units, O outputs, n modules, :math:`k_i` units in module i, :math:`H = \sum_i k_i`.

A :class:`ClockworkSpec` is immutable and holds no parameters; :func:`cwrnn_np.init_params`
makes those. Its derived arrays (``C``, ``M_H``, ``M_I``, ...) are read-only.
"""
from __future__ import annotations

import dataclasses
import numbers
import warnings
from functools import cached_property
from typing import Sequence

import numpy as np

from . import masks
from .schedules import as_periods
from .validation import check_int

__all__ = [
    "ClockworkSpec",
    "UnreachableModuleWarning",
    "OnClockworkBase",
    "srn_spec",
    "split_phases",
    "odd_even",
    "round_robin",
    "clock",
]


class UnreachableModuleWarning(UserWarning):
    """A module that no input can reach, through either input routing or connectivity."""


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def clock(periods: Sequence[int], phases: Sequence[int], L: int, t0: int = 0) -> np.ndarray:
    r"""The clock: ``active[t, i]`` iff :math:`(t_0 + t - \phi_i) \bmod T_i = 0`, shape (L, n).

    ``t`` runs over the steps ``0..L-1`` of one call; ``t0`` is the call's clock offset, so a
    second chunk of a sequence passes ``t0`` = length of the first and the clock continues.
    """
    T = np.asarray(periods, dtype=np.int64)[None, :]  # (1, n)
    phi = np.asarray(phases, dtype=np.int64)[None, :]  # (1, n)
    t = np.arange(L, dtype=np.int64)[:, None] + int(t0)  # (L, 1)
    return (t - phi) % T == 0  # (L, n)


def _freeze_bool(value):
    """A hashable, JSON-friendly copy of a user-given boolean array (nested tuples)."""
    arr = np.asarray(value)
    if arr.ndim == 1:
        return tuple(bool(v) for v in arr)
    return tuple(tuple(bool(v) for v in row) for row in arr)


@dataclasses.dataclass(frozen=True)
class ClockworkSpec:
    r"""The architecture of a Clockwork RNN (no parameters).

    Parameters
    ----------
    input_size : int
        D >= 0, the width of :math:`x_t`. D = 0 means no input (the paper's generation task).
    output_size : int
        O >= 1, the width of :math:`y_t`.
    module_sizes : sequence of int
        :math:`k_i \ge 1` per module; H = sum. Modules keep the given order.
    periods : sequence of int
        :math:`T_i \ge 1` per module (see :mod:`cwrnn_np.schedules`).
    phases : sequence of int, optional
        :math:`0 \le \phi_i < T_i` per module; default all zero.
    connectivity : str or (n, n) bool array
        Recurrent wiring ``C`` (``C[i, j]``: module j feeds module i); a preset from
        :data:`cwrnn_np.masks.CONNECTIVITY_PRESETS` or a boolean matrix.
    input_modules : str or sequence of bool
        Input routing ``R``: ``"all"``, ``"fastest"`` or n booleans.
    learn_h0 : bool
        If true, the initial/reset state :math:`r = h_0` is a parameter; otherwise :math:`r = 0`.

    Notes
    -----
    Module i is active at step t of a call with offset :math:`t_0` iff

    .. math:: (t_0 + t - \phi_i) \bmod T_i = 0 .

    Constructing a spec in which some module can never be reached from the input (through
    routing or connectivity) emits :class:`UnreachableModuleWarning` naming it.
    """

    input_size: int
    output_size: int
    module_sizes: tuple
    periods: tuple
    phases: tuple | None = None
    connectivity: object = "clockwork"
    input_modules: object = "all"
    learn_h0: bool = False

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, "input_size", check_int(self.input_size, "input_size", 0))
        set_(self, "output_size", check_int(self.output_size, "output_size", 1))
        try:
            sizes = list(self.module_sizes)
        except TypeError:
            raise ValueError(f"module_sizes must be a sequence of integers >= 1, "
                             f"got {self.module_sizes!r}") from None
        if len(sizes) == 0:
            raise ValueError("module_sizes must not be empty")
        sizes = tuple(check_int(k, f"module_sizes[{i}]", 1) for i, k in enumerate(sizes))
        set_(self, "module_sizes", sizes)
        n = len(sizes)
        periods = tuple(as_periods(self.periods, "periods"))
        if len(periods) != n:
            raise ValueError(f"periods must have one entry per module (n={n}), "
                             f"got {len(periods)}: {list(periods)}")
        set_(self, "periods", periods)
        if self.phases is None:
            phases = (0,) * n
        else:
            try:
                phases = list(self.phases)
            except TypeError:
                raise ValueError(f"phases must be a sequence of integers, got {self.phases!r}") from None
            if len(phases) != n:
                raise ValueError(f"phases must have one entry per module (n={n}), "
                                 f"got {len(phases)}: {phases}")
            phases = tuple(check_int(p, f"phases[{i}]", 0) for i, p in enumerate(phases))
            for i, (p, T) in enumerate(zip(phases, periods)):
                if p >= T:
                    raise ValueError(f"phases[{i}] must satisfy 0 <= phase < period "
                                     f"(period {T}), got {p}")
        set_(self, "phases", phases)
        if not isinstance(self.learn_h0, (bool, np.bool_)):
            raise ValueError(f"learn_h0 must be a bool, got {self.learn_h0!r}")
        set_(self, "learn_h0", bool(self.learn_h0))
        # validate and freeze the wiring
        if isinstance(self.connectivity, str):
            masks.connectivity_matrix(self.connectivity, periods)
        else:
            set_(self, "connectivity",
                 _freeze_bool(masks.connectivity_matrix(self.connectivity, periods)))
        if isinstance(self.input_modules, str):
            masks.input_routing(self.input_modules, periods)
        else:
            set_(self, "input_modules",
                 _freeze_bool(masks.input_routing(self.input_modules, periods)))
        if self.input_size > 0:
            lost = masks.unreachable_modules(self.C, self.R)
            if lost:
                names = ", ".join(f"module {i} (period {periods[i]})" for i in lost)
                warnings.warn(
                    f"no input can reach {names}: it reads no input (input_modules) and no "
                    f"module that does (connectivity), so its state never depends on the input x",
                    UnreachableModuleWarning, stacklevel=3)

    # ----- derived sizes ---------------------------------------------------------------------
    @property
    def n_modules(self) -> int:
        """n, the number of modules."""
        return len(self.module_sizes)

    @property
    def hidden_size(self) -> int:
        """H = sum of the module sizes."""
        return sum(self.module_sizes)

    @cached_property
    def offsets(self) -> np.ndarray:
        """(n + 1,) int: module i owns hidden units ``offsets[i]:offsets[i+1]``."""
        return _readonly(np.concatenate([[0], np.cumsum(self.module_sizes)]).astype(np.int64))

    @cached_property
    def unit_module(self) -> np.ndarray:
        """(H,) int: the module each hidden unit belongs to."""
        return _readonly(np.repeat(np.arange(self.n_modules), self.module_sizes))

    # ----- derived masks ---------------------------------------------------------------------
    @cached_property
    def C(self) -> np.ndarray:
        """(n, n) bool connectivity: ``C[i, j]`` iff module j feeds module i."""
        return _readonly(masks.connectivity_matrix(self.connectivity, self.periods))

    @cached_property
    def R(self) -> np.ndarray:
        """(n,) bool input routing: ``R[i]`` iff module i reads the input."""
        return _readonly(masks.input_routing(self.input_modules, self.periods))

    @cached_property
    def M_H(self) -> np.ndarray:
        """(H, H) bool structural mask of W_H."""
        return _readonly(masks.expand_hidden_mask(self.C, self.module_sizes))

    @cached_property
    def M_I(self) -> np.ndarray:
        """(H, D) bool structural mask of W_I."""
        return _readonly(masks.expand_input_mask(self.R, self.module_sizes, self.input_size))

    def param_masks(self) -> dict:
        """Structural masks by parameter name (True = free entry); unmasked parameters get None."""
        out = {"W_I": self.M_I, "W_H": self.M_H, "b_H": None, "W_O": None, "b_O": None}
        if self.learn_h0:
            out["h_0"] = None
        return out

    def param_shapes(self) -> dict:
        """Parameter shapes by name, in the paper's notation."""
        H, D, O = self.hidden_size, self.input_size, self.output_size
        shapes = {"W_I": (H, D), "W_H": (H, H), "b_H": (H,), "W_O": (O, H), "b_O": (O,)}
        if self.learn_h0:
            shapes["h_0"] = (H,)
        return shapes

    # ----- the clock -------------------------------------------------------------------------
    def active(self, L: int, t0: int = 0) -> np.ndarray:
        """(L, n) bool: module i is active at step t (see :func:`clock`)."""
        return clock(self.periods, self.phases, L, t0)

    def active_units(self, L: int, t0: int = 0) -> np.ndarray:
        """(L, H) bool: the clock expanded to hidden units."""
        return np.repeat(self.active(L, t0), self.module_sizes, axis=1)  # (L, H)

    # ----- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A JSON-friendly dict; ``ClockworkSpec(**d)`` rebuilds an equal spec."""
        d = dataclasses.asdict(self)
        for key in ("module_sizes", "periods", "phases"):
            d[key] = list(d[key])
        for key in ("connectivity", "input_modules"):
            if not isinstance(d[key], str):
                d[key] = [list(r) if isinstance(r, tuple) else r for r in d[key]]
        return d

    def replace(self, **changes) -> "ClockworkSpec":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def srn_spec(input_size: int, hidden_size: int, output_size: int,
             learn_h0: bool = False) -> ClockworkSpec:
    r"""The simple RNN baseline: one module of ``hidden_size`` units with period 1.

    Every step is active, so :math:`h_t = \tanh(W_I x_t + W_H h_{t-1} + b_H)`.
    """
    return ClockworkSpec(input_size, output_size, [hidden_size], [1], learn_h0=learn_h0)


def split_phases(spec: ClockworkSpec, index: int, k: int) -> ClockworkSpec:
    r"""Split module ``index`` into ``k`` phase-shifted modules that take turns (design note).

    Module ``index`` (size :math:`k_i`, period T, phase :math:`\phi`) becomes k modules, each of
    size :math:`k_i`, period :math:`kT` and phases :math:`\phi, \phi + T, \dots, \phi + (k-1)T`.
    Together they fire at exactly the steps the original fired, one at a time, round robin.

    Wiring: each new module inherits the original's row and column of ``C`` (what fed it and what
    it fed) and its input routing, and the k new modules are mutually fully connected, whatever
    the preset, because the note asks for that. The result therefore carries an explicit boolean
    connectivity matrix rather than a preset name.

    ``k = 2`` is the note's odd-even split (:func:`odd_even`); ``k = 4`` its round robin.
    """
    n = spec.n_modules
    index = check_int(index, "index", 0)
    if index >= n:
        raise ValueError(f"index must be < n_modules ({n}), got {index}")
    k = check_int(k, "k", 2)
    T, phi, size = spec.periods[index], spec.phases[index], spec.module_sizes[index]
    # position in the new order of each old module (the split module becomes k entries)
    old_of_new = list(range(index)) + [index] * k + list(range(index + 1, n))
    C_old, R_old = spec.C, spec.R
    m = len(old_of_new)
    C_new = np.empty((m, m), dtype=bool)
    for a, i in enumerate(old_of_new):
        for b, j in enumerate(old_of_new):
            C_new[a, b] = C_old[i, j]
    block = slice(index, index + k)
    C_new[block, block] = True  # the k phase-shifted modules are mutually connected
    sizes = [spec.module_sizes[i] for i in old_of_new]
    periods = [spec.periods[i] for i in old_of_new]
    phases = [spec.phases[i] for i in old_of_new]
    periods[block] = [k * T] * k
    phases[block] = [phi + s * T for s in range(k)]
    sizes[block] = [size] * k
    return dataclasses.replace(
        spec, module_sizes=tuple(sizes), periods=tuple(periods), phases=tuple(phases),
        connectivity=C_new, input_modules=[bool(R_old[i]) for i in old_of_new])


def odd_even(spec: ClockworkSpec, index: int = 0) -> ClockworkSpec:
    """The note's odd-even modules: :func:`split_phases` with k = 2 (default: the first module)."""
    return split_phases(spec, index, 2)


def round_robin(spec: ClockworkSpec, index: int = 0, k: int = 4) -> ClockworkSpec:
    """The note's round-robin modules: :func:`split_phases` with k = 4 by default."""
    return split_phases(spec, index, k)


class OnClockworkBase:
    """Mixin for the specs of the design note's variants, which build on a ``base``
    :class:`ClockworkSpec`: the base's sizes, periods and ``learn_h0`` read through."""

    input_size = property(lambda self: self.base.input_size)
    output_size = property(lambda self: self.base.output_size)
    hidden_size = property(lambda self: self.base.hidden_size)
    n_modules = property(lambda self: self.base.n_modules)
    module_sizes = property(lambda self: self.base.module_sizes)
    periods = property(lambda self: self.base.periods)
    learn_h0 = property(lambda self: self.base.learn_h0)
