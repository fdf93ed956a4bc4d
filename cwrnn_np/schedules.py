r"""Clock-period schedules for Clockwork RNN modules.

A schedule is a plain list of integer periods :math:`T_0, \dots, T_{n-1}`, one per module, in
module order. Module ``i`` is active at step ``t`` of a call iff
:math:`(t_0 + t - \phi_i) \bmod T_i = 0` (see ``docs/model.md``).

Sources
-------
* ``exponential``: Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014, §3
  (:math:`T_i = 2^i`).
* ``fibonacci``, ``symmetric``, ``random``, other exponential bases: the design note's
  "Various Clock Periods" (symmetric gave the note's best results).

Every function returns a new ``list[int]``; none keeps state. ``random`` takes its generator as an
argument so that a seed reproduces it.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from .validation import check_count

__all__ = ["exponential", "fibonacci", "symmetric", "linear", "random", "as_periods"]


def as_periods(periods: Sequence[int], field: str = "periods") -> list[int]:
    """Validate a custom schedule and return it as a list of Python ints.

    Raises ``ValueError`` naming ``field`` if an entry is not an integer (floats such as ``2.0``
    are refused too, so that a typo like ``2.5`` cannot be silently truncated) or is below 1.
    """
    try:
        items = list(periods)
    except TypeError:
        raise ValueError(f"{field} must be a sequence of integers >= 1, got {periods!r}") from None
    if len(items) == 0:
        raise ValueError(f"{field} must not be empty")
    out = []
    for i, p in enumerate(items):
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Integral):
            raise ValueError(f"{field}[{i}] must be an integer, got {p!r}")
        if p < 1:
            raise ValueError(f"{field}[{i}] must be >= 1, got {p!r}")
        out.append(int(p))
    return out


def exponential(n: int, base: float = 2) -> list[int]:
    r"""The paper's schedule :math:`T_i = \operatorname{round}(b^i)`, i = 0..n-1.

    ``exponential(5)`` is ``[1, 2, 4, 8, 16]``; ``exponential(3, base=4)`` is ``[1, 4, 16]``.
    A non-integer base > 1 is allowed (the note's "different exponential series"); periods are
    rounded to the nearest integer, so neighbouring modules may then share a period.
    """
    n = check_count(n, "n")
    if isinstance(base, bool) or not isinstance(base, numbers.Real) or not base > 1:
        raise ValueError(f"base must be a real number > 1, got {base!r}")
    if isinstance(base, numbers.Integral):
        return [int(base) ** i for i in range(n)]
    return [max(1, int(round(float(base) ** i))) for i in range(n)]


def fibonacci(n: int) -> list[int]:
    """Fibonacci ("Virahanka") periods 1, 2, 3, 5, 8, ... (the design note).

    The sequence starts at 1, 2 so that no two modules share a period.
    """
    n = check_count(n, "n")
    out = [1, 2]
    while len(out) < n:
        out.append(out[-1] + out[-2])
    return out[:n]


def symmetric(periods_or_n, base: float = 2) -> list[int]:
    """A palindromic schedule: ascend, then mirror back down (the note's best setting).

    * ``symmetric([1, 4, 16])`` is ``[1, 4, 16, 4, 1]``: the given ascending half is mirrored
      without repeating its last (slowest) entry.
    * ``symmetric(5, base=4)`` is ``[1, 4, 16, 4, 1]``: an integer builds the ascending half with
      :func:`exponential` and must be odd, so that exactly one slowest module sits in the middle.
    * ``symmetric(fibonacci(3))`` is ``[1, 2, 3, 2, 1]``, the Fibonacci-symmetric schedule.
    """
    if isinstance(periods_or_n, numbers.Integral) and not isinstance(periods_or_n, bool):
        n = check_count(periods_or_n, "n")
        if n % 2 == 0:
            raise ValueError(f"symmetric(n) needs an odd n (one middle module), got n={n}")
        half = exponential((n + 1) // 2, base)
    else:
        half = as_periods(periods_or_n, "periods_or_n")
    return half + half[-2::-1]


def linear(n: int, step: int = 1, start: int = 1) -> list[int]:
    """Arithmetic periods ``start, start + step, ..., start + (n-1) step``."""
    n = check_count(n, "n")
    start = check_count(start, "start")
    step = check_count(step, "step")
    return [start + i * step for i in range(n)]


def random(n: int, low: int, high: int, rng: np.random.Generator, sort: bool = True) -> list[int]:
    """``n`` periods drawn uniformly from the integers ``low..high`` (inclusive).

    ``rng`` is a ``numpy.random.Generator`` (``np.random.default_rng(seed)``); the same seed gives
    the same schedule. With ``sort=True`` (default) the periods ascend, so that the paper's
    slow-to-fast reading of "later module = slower" still holds.
    """
    n = check_count(n, "n")
    low = check_count(low, "low")
    high = check_count(high, "high")
    if high < low:
        raise ValueError(f"high must be >= low, got low={low}, high={high}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    out = [int(v) for v in rng.integers(low, high + 1, size=n)]
    return sorted(out) if sort else out


def lcm(periods: Sequence[int]) -> int:
    """Least common multiple of the periods: the clock pattern repeats with this period."""
    return math.lcm(*as_periods(periods))
