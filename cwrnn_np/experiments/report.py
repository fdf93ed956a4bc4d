"""Plots of a finished run, written into its run folder as PNG files.

* ``loss.png``: training loss per step and the validation metric at each evaluation
  (from ``metrics.jsonl``);
* ``generation.png`` (generation task): the target clip against the network's output;
* ``clock.png``: which modules were active at each step of one sequence (the clock raster;
  clocked networks only).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..spec import ClockworkSpec

__all__ = ["write_plots", "read_metrics"]


def read_metrics(run_dir) -> list[dict]:
    """The records of ``metrics.jsonl`` in order."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def write_plots(run_dir, task, net, final: dict) -> list[Path]:
    """Write the run's PNG plots; return their paths."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..viz.plotting import plot_clock

    run_dir = Path(run_dir)
    out = []
    records = read_metrics(run_dir)
    train = [(r["step"], r["loss"]) for r in records if r["split"] == "train"]
    valid = [(r["step"], r.get(task.metric)) for r in records
             if r["split"] == "valid" and task.metric in r]
    fig, ax = plt.subplots(figsize=(7, 4))
    if train:
        s, v = zip(*train)
        ax.plot(s, v, lw=0.8, label="training loss")
    if valid:
        s, v = zip(*valid)
        ax.plot(s, v, "o-", ms=3, label=f"validation {task.metric}")
    ax.set_yscale("log")
    ax.set_xlabel("step (optimizer updates)")
    ax.set_title(f"{task.name}: training curve")
    ax.legend()
    fig.tight_layout()
    out.append(run_dir / "loss.png")
    fig.savefig(out[-1], dpi=100)
    plt.close(fig)

    if task.name == "generation" and "output" in final.get("test", {}):
        y = np.asarray(final["test"]["output"])[:, 0, 0]
        target = task.batch.target[:, 0, 0]
        fig, ax = plt.subplots(figsize=(8, 3.5))
        ax.plot(target, color="0.3", lw=1.5, label="target")
        ax.plot(y, color="tab:red", lw=1, label="generated")
        ax.set_xlabel("step t")
        ax.set_title(f"generation: NMSE {final['test']['nmse']:.4g} "
                     f"({task.info['source']} clip {task.cfg.data.clip})")
        ax.legend(loc="upper right")
        fig.tight_layout()
        out.append(run_dir / "generation.png")
        fig.savefig(out[-1], dpi=100)
        plt.close(fig)

    if not isinstance(net.spec, ClockworkSpec):
        return out  # an LSTM has no clock to draw
    spec = net.spec
    L = int(task.train_batch(0).x.shape[0])
    fig, ax = plt.subplots(figsize=(8, 0.4 * spec.n_modules + 1.5))
    plot_clock(spec, L, ax=ax)
    ax.set_title(f"active modules at each step (periods {list(spec.periods)})")
    fig.tight_layout()
    out.append(run_dir / "clock.png")
    fig.savefig(out[-1], dpi=100)
    plt.close(fig)
    return out
