r"""Parameter budgets: the hidden size of each model family that matches a parameter count.

The paper (Koutník et al. 2014, Table 1) compares SRN, LSTM and CW-RNN at equal numbers of
parameters. Counts here are exact: for the SRN and the CW-RNN they are the free entries of the
parameters of the :class:`cwrnn_np.ClockworkSpec` that :func:`model_spec` builds (structural zeros
of W_H and W_I do not count); for the LSTM they follow ``docs/lstm.md``:

.. math::

    N_{\text{SRN}} &= H D + H^2 + H + O H + O \\
    N_{\text{CW}} &= H D + \sum_i k_i \sum_{j : C_{ij}} k_j + H + O H + O \\
    N_{\text{LSTM}} &= 4H(D + H) + 4H + 3H\,[\text{peepholes}] + O H + O

where H is the hidden size, D the input size, O the output size and :math:`k_i` the size of
module i. A CW-RNN with H units and g modules splits the units as evenly as possible, the
remainder going to the fastest modules first (:func:`split_units`), with the paper's wiring
(``"clockwork"``) and exponential periods.

:func:`match_budget` returns the hidden size whose count is nearest the budget (ties to the
smaller network), or the largest within it (``rule="at_most"``), and that count. ``docs/experiments/budgets.md`` compares the results with the
sizes the paper reports.
"""
from __future__ import annotations

import math
import numbers

from .. import schedules
from ..spec import ClockworkSpec

__all__ = ["FAMILIES", "split_units", "model_spec", "count_params", "match_budget",
           "PAPER_TABLE1"]

FAMILIES = ("srn", "lstm", "cwrnn")

#: Hidden sizes the paper reports for its generation experiment, by budget (as far as we know).
PAPER_TABLE1 = {
    "srn": {100: 9, 250: 15, 500: 22, 1000: 31},
    "lstm": {100: 4, 250: 7, 500: 10, 1000: 15},
    "cwrnn": {100: 11, 250: 19, 500: 27, 1000: 40},
}


def _check(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def split_units(H: int, g: int) -> list[int]:
    """H units over g modules as evenly as possible, the remainder to the first (fastest)
    modules: ``split_units(11, 9)`` is ``[2, 2, 1, 1, 1, 1, 1, 1, 1]``. Needs H >= g."""
    H, g = _check(H, "H", 1), _check(g, "g", 1)
    if H < g:
        raise ValueError(f"H must be >= g to give every module a unit, got H={H}, g={g}")
    base, extra = divmod(H, g)
    return [base + 1] * extra + [base] * (g - extra)


def model_spec(family: str, H: int, D: int, O: int, g: int = 9,
               connectivity="clockwork") -> ClockworkSpec:
    """The ClockworkSpec of an SRN or a g-module CW-RNN (exponential periods) with H units."""
    if family == "srn":
        return ClockworkSpec(D, O, [H], [1])
    if family == "cwrnn":
        return ClockworkSpec(D, O, split_units(H, g), schedules.exponential(g),
                             connectivity=connectivity)
    raise ValueError(f"model_spec builds 'srn' or 'cwrnn', got {family!r}")


def count_params(family: str, H: int, D: int = 0, O: int = 1, g: int = 9,
                 peepholes: bool = True, connectivity="clockwork") -> int:
    """The exact number of free parameters of a network of ``family`` with H hidden units."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    H, D, O = _check(H, "H", 1), _check(D, "D", 0), _check(O, "O", 1)
    if family == "lstm":
        return 4 * H * (D + H) + 4 * H + (3 * H if peepholes else 0) + O * H + O
    spec = model_spec(family, H, D, O, g, connectivity)
    n = 0
    for name, shape in spec.param_shapes().items():
        mask = spec.param_masks()[name]
        n += int(mask.sum()) if mask is not None else math.prod(shape)
    return n


def match_budget(family: str, budget: int, D: int = 0, O: int = 1, g: int = 9,
                 peepholes: bool = True, connectivity="clockwork",
                 rule: str = "nearest") -> tuple[int, int]:
    """(H, count) for ``budget``: with ``rule="nearest"`` the hidden size whose parameter count
    is nearest the budget (ties to the smaller H); with ``rule="at_most"`` the largest one whose
    count does not exceed it. For a CW-RNN, H >= g."""
    budget = _check(budget, "budget", 1)
    if rule not in ("nearest", "at_most"):
        raise ValueError(f"rule must be 'nearest' or 'at_most', got {rule!r}")
    H = g if family == "cwrnn" else 1
    best = (H, count_params(family, H, D, O, g, peepholes, connectivity))
    while True:
        H += 1
        n = count_params(family, H, D, O, g, peepholes, connectivity)
        if rule == "nearest" and abs(n - budget) < abs(best[1] - budget):
            best = (H, n)
        if rule == "at_most" and n <= budget:
            best = (H, n)
        if n > budget:
            return best


def table(budgets=(100, 250, 500, 1000), D: int = 0, O: int = 1, g: int = 9) -> str:
    """A Markdown table: ours (nearest and at-most rules) beside the paper's sizes."""
    lines = ["| family | budget | paper H (count) | ours, nearest: H (count) | "
             "ours, at most: H (count) |", "|---|---|---|---|---|"]
    for family in FAMILIES:
        for b in budgets:
            ph = PAPER_TABLE1[family][b]
            pn = count_params(family, ph, D, O, g)
            nh, nn = match_budget(family, b, D, O, g)
            ah, an = match_budget(family, b, D, O, g, rule="at_most")
            lines.append(f"| {family} | {b} | {ph} ({pn}) | {nh} ({nn}) | {ah} ({an}) |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table())
