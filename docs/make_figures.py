r"""Regenerate the figures of ``docs/model.md`` into ``docs/figures/``.

Run from anywhere::

    python docs/make_figures.py

It writes exactly these files (PNG, 100 dpi), with the non-interactive Agg backend:

* ``clock_exponential.png``: the clock of the paper's schedule :math:`T_i = 2^i`, periods
  [1, 2, 4, 8, 16], over L = 64 steps (Koutník et al. 2014, §3);
* ``clock_symmetric.png``: the clock of the design note's symmetric schedule [1, 4, 16, 4, 1],
  L = 64;
* ``masks_presets.png``: the module-level connectivity C of every preset in
  :data:`cwrnn_np.masks.CONNECTIVITY_PRESETS`, for periods [1, 4, 16, 4, 1];
* ``masks_wiring.png``: the unit-level mask :math:`M_H` of :math:`W_H` for three wirings of
  four 4-unit modules with periods [1, 2, 4, 8]: the paper's ``"clockwork"``, the design note's
  ``"full"`` duplex, and the note's odd-even split (:func:`cwrnn_np.odd_even` of the clockwork
  spec).

The figures are drawn by :mod:`cwrnn_np.viz.plotting`; this script only lays them out.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed, same pixels everywhere
import matplotlib.pyplot as plt  # noqa: E402

import cwrnn_np as cw  # noqa: E402
from cwrnn_np import plotting  # noqa: E402

OUT = Path(__file__).resolve().parent / "figures"
DPI = 100
FILES = ("clock_exponential.png", "clock_symmetric.png", "masks_presets.png", "masks_wiring.png")


def _spec(periods, module_size=1, connectivity="clockwork"):
    """A spec with one input, one output and equal module sizes (only the wiring matters here)."""
    return cw.ClockworkSpec(input_size=1, output_size=1, module_sizes=[module_size] * len(periods),
                            periods=periods, connectivity=connectivity)


def clock_figure(periods, L, title):
    """The n × L clock of ``periods``."""
    spec = _spec(periods)
    fig, ax = plt.subplots(figsize=(10, 1.1 + 0.32 * len(periods)), layout="constrained")
    plotting.plot_clock(spec, L, ax=ax)
    ax.set_title(title)
    return fig


def presets_figure(periods):
    """One panel per connectivity preset: C (n × n) for ``periods``."""
    presets = cw.masks.CONNECTIVITY_PRESETS
    ncols = 4
    nrows = -(-len(presets) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(12, 3.3 * nrows), layout="constrained")
    axes = axes.ravel()
    for ax, name in zip(axes, presets):
        plotting.plot_connectivity(_spec(periods, connectivity=name), ax=ax)
        ax.set_title(f'"{name}"')
        ax.set_xlabel("sending module j")
        ax.set_ylabel("receiving module i")
    for ax in axes[len(presets):]:
        ax.axis("off")
    # the spare panel explains the reading
    if len(axes) > len(presets):
        axes[-1].text(0, 0.5, f"periods {list(periods)}\n\n"
                      "dark: C[i, j] = 1,\nmodule j feeds module i\n"
                      "light: block of $W_H$ is\nstructurally zero\n\n"
                      "ticks: module period T",
                      va="center", ha="left", fontsize=11, transform=axes[-1].transAxes)
    fig.suptitle("Connectivity presets (module level, row = receiver, column = sender)")
    return fig


def wiring_figure():
    """M_H (H × H) for the clockwork, full-duplex and odd-even wirings."""
    periods = cw.schedules.exponential(4)
    clockwork = _spec(periods, module_size=4, connectivity="clockwork")
    specs = [
        ("original: clockwork", clockwork),
        ("full duplex", clockwork.replace(connectivity="full")),
        ("odd-even: the T=1 module split in two", cw.odd_even(clockwork)),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 5.0), layout="constrained")
    for ax, (title, spec) in zip(axes, specs):
        plotting.plot_hidden_mask(spec, ax=ax)
        ax.set_title(f"{title}\nH={spec.hidden_size}, periods {list(spec.periods)}", fontsize=10)
    fig.suptitle("Structural mask $M_H$ of $W_H$ (dark = free weight, red lines = module "
                 "boundaries)")
    return fig


def main(out: Path = OUT) -> list[Path]:
    """Write the four figures into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "clock_exponential.png": clock_figure(
            cw.schedules.exponential(5), 64, "Clock of the paper's exponential schedule "
            "$T_i = 2^i$ (dark = module active)"),
        "clock_symmetric.png": clock_figure(
            cw.schedules.symmetric([1, 4, 16]), 64, "Clock of the symmetric schedule "
            "[1, 4, 16, 4, 1] (dark = module active)"),
        "masks_presets.png": presets_figure(cw.schedules.symmetric([1, 4, 16])),
        "masks_wiring.png": wiring_figure(),
    }
    assert tuple(figures) == FILES
    paths = []
    for name, fig in figures.items():
        path = out / name
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in main():
        print(p)
