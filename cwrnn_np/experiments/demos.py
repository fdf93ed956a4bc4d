r"""Demonstrations of the design note's two deeper variants (``docs/variants.md``).

* :func:`run_learned_periods` (``cwrnn experiment learned-periods``): on the ``hold`` task, whose
  target changes every 24 steps (a planted timescale), the slow module's learned period
  :math:`e^{\mu}` is recorded through training from several starting periods, then the network
  is hardened into an ordinary CW-RNN and scored again. Fixed-clock CW-RNNs (the starting
  schedule, and one with the planted period) are the baselines.
* :func:`run_soft_selection` (``cwrnn experiment soft-selection``): on the ``regimes`` task (two
  alternating regimes needing opposite answers), a group of two softly selected same-clock
  modules against single modules of the same and of twice the size; the selection
  :math:`g_t` is plotted over a test sequence, and its specialisation measured as
  :math:`|\bar g_0(s{=}{+}1) - \bar g_0(s{=}{-}1)|`.

Each writes a Markdown report, a JSON of every run and its figures into ``out_dir``; the
report states the command, the machine and the wall time.
"""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ..training.config import apply_overrides
from .paper import REPRODUCE, command, machine, write_table
from ..training.tasks import make_task, task_defaults
from ..training.train import train

__all__ = ["run_learned_periods", "run_soft_selection", "LEARNED_CANDIDATES"]

#: candidate periods of the learned-period demo: every integer up to twice the planted 24
LEARNED_CANDIDATES = list(range(1, 49))


def _fence(cmd):
    return ["```bash", cmd, "```"]


def _mean_std(values):
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def _bar(total, desc, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="run")


# ----- learned periods ------------------------------------------------------------------------

def run_learned_periods(out_dir="docs/experiments", starts=(16, 32), seeds=(0, 1, 2),
                        steps=1000, backend="numba", progress=True, tag="learned-periods"):
    r"""Learned periods on the ``hold`` task (planted timescale 24).

    Rows: fixed CW-RNNs with periods [1, 4, 16] and [1, 4, 24]; learned periods (static form)
    starting from [1, 4, P] for each P in ``starts``; the emitted form from [1, 4, 32].
    Learned rows use candidates 1..48, σ₀ = 0.5 and a temperature annealed from 1 to 0.1, and
    are scored soft and after :func:`cwrnn_np.models.learned_periods.harden`.
    """
    from .. import forward
    from ..models.learned_periods import harden, module_periods

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cands = "[" + ",".join(map(str, LEARNED_CANDIDATES)) + "]"
    learned = ["model.candidate_periods=" + cands, "model.sigma_init=0.5",
               "model.temperature=1.0", "model.temperature_end=0.1"]
    rows = {"clockwork [1,4,16]": ["model.periods=[1,4,16]"],
            "clockwork [1,4,24]": ["model.periods=[1,4,24]"]}
    for P in starts:
        rows[f"learned static from [1,4,{P}]"] = [f"model.periods=[1,4,{P}]",
                                                  "model.variant=learned-static"] + learned
    rows["learned emitted from [1,4,32]"] = ["model.periods=[1,4,32]",
                                            "model.variant=learned-emitted"] + learned
    grid = [(name, seed) for name in rows for seed in seeds]
    bar = _bar(len(grid), f"experiment {tag}", progress)
    results, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed in grid:
            cfg = task_defaults("hold")
            apply_overrides(cfg, rows[name] + [
                f"train.steps={steps}", f"train.seed={seed}", "train.progress=false",
                f"train.runs_dir={tmp}", "train.checkpoint_every=0",
                f"model.backend={backend}"])
            task = make_task(cfg)
            probe = task.valid.x[:, :16]                            # (L, 16, 2) for emitted
            track = []

            def record(step, params, cfg=cfg, track=track, probe=probe):
                if step % 10 and step != 1:
                    return
                from ..training.train import build_net, temperature_at
                if cfg.model.variant.startswith("learned"):
                    net = build_net(cfg.model, 2, 1, cfg.train.seed).at_temperature(
                        temperature_at(cfg.model, step, steps))
                    mp = module_periods(params, net.spec, probe)
                    track.append((step, np.exp(mp["mean_log"]).tolist(),
                                  mp["sigma"].tolist()))

            t = time.perf_counter()
            r = train(cfg, log=lambda m: None, plots=False, on_step=record)
            row = dict(name=name, seed=seed, params=r.net.n_params(),
                       seconds=time.perf_counter() - t, mse=float(r.final["test"]["mse"]),
                       track=track, sets=rows[name])
            if r.net.kind == "learned":
                hard_spec, hard_params = harden(r.params, r.net.spec, probe)
                y, _ = forward(hard_params, hard_spec, task.test.x, backend=backend)
                row["hard_mse"] = float(np.mean((y - task.test.target) ** 2))
                row["hard_periods"] = list(hard_spec.periods)
                mp = module_periods(r.params, r.net.spec, probe)
                row["final_periods"] = np.exp(mp["mean_log"]).tolist()
            results.append(row)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    settings = dict(steps=steps, seeds=list(seeds), starts=list(starts), machine=machine(),
                    wall=time.perf_counter() - started, backend=backend, out_dir=str(out_dir))
    (out_dir / f"{tag}.json").write_text(json.dumps({"settings": settings, "runs": results},
                                                    indent=1))
    write_table(out_dir, tag, results)
    _learned_figure(out_dir / f"{tag}.png", results)
    (out_dir / f"{tag}.md").write_text(_learned_report(results, settings, tag))
    return results


def _learned_figure(path, results):
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    names = [n for n in dict.fromkeys(r["name"] for r in results) if "learned" in n]
    for c, name in zip(colors, names):
        for k, r in enumerate(x for x in results if x["name"] == name):
            if not r["track"]:
                continue
            steps = [s for s, _, _ in r["track"]]
            for i in range(len(r["track"][0][1])):
                ax.semilogy(steps, [p[i] for _, p, _ in r["track"]], color=c,
                            lw=1.6 if i == 2 else 0.6, alpha=0.9,
                            label=name if (k == 0 and i == 2) else None)
    for level in (12, 24, 48):
        ax.axhline(level, color="0.6", lw=0.8, ls="--")
        ax.text(0, level * 1.04, f" {level}", color="0.4", fontsize=7)
    ax.set_xlabel("training step")
    ax.set_ylabel("learned period exp(mu)")
    ax.set_title("learned periods on the hold task (planted timescale 24); thick: slow module")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _learned_report(results, s, tag):
    names = list(dict.fromkeys(r["name"] for r in results))
    lines = [
        "# Demonstration: learned periods (the design note's Gaussian over periods)", "",
        "Task `hold` (`cwrnn list`): a new value in [-1, 1] arrives on input 0 every 24 steps, "
        "input 1 is noise at every step, and the target at every step is the value presented "
        "last (96 steps per sequence, MSE; predicting 0 scores 1/3). A module that fires "
        "exactly at the multiples of 24 can read each value and hold it; any period dividing "
        "24 also sees every value but is updated in between. Three modules of 4 units, "
        "Adam 3e-3, clipped at norm 1, batch 32, "
        f"{s['steps']} steps, seeds {s['seeds']}. Learned rows: candidates 1..48, "
        "σ₀ = 0.5 (log-period units), temperature annealed geometrically from 1 to 0.1 "
        "(`model.temperature_end`), then hardened (`cwrnn_np.models.learned_periods.harden`).", "",
        f"Machine: {s['machine']}; wall time {s['wall'] / 60:.1f} min "
        f"(backend {s['backend']}).", "", REPRODUCE, ""] + _fence(
        command(f"cwrnn experiment learned-periods --steps {s['steps']} --seeds "
                f"{len(s['seeds'])}", s.get("out_dir", ""))) + [
        "", "| network | parameters | test MSE (soft) | test MSE (hardened) | "
        "final periods exp(μ) per seed | hardened periods per seed |",
        "|---|---|---|---|---|---|"]
    for name in names:
        rs = [r for r in results if r["name"] == name]
        fin = "; ".join("[" + ", ".join(f"{p:.1f}" for p in r["final_periods"]) + "]"
                        for r in rs if "final_periods" in r) or "fixed"
        hard = "; ".join(str(r["hard_periods"]) for r in rs if "hard_periods" in r) or "–"
        hm = _mean_std([r.get("hard_mse") for r in rs]) if "hard_mse" in rs[0] else "–"
        lines.append(f"| {name} | {rs[0]['params']} | {_mean_std([r['mse'] for r in rs])} | "
                     f"{hm} | {fin} | {hard} |")
    lines += ["", f"![learned periods over training]({tag}.png)", "",
              "Mean ± standard deviation over seeds. The figure shows exp(μ) of every module "
              "(thick: the slow one) every 10 steps; for the emitted form, the mean of the "
              "emitted μ over 16 validation sequences.", ""]
    return "\n".join(lines)


# ----- soft selection -------------------------------------------------------------------------

def run_soft_selection(out_dir="docs/experiments", seeds=(0, 1, 2), steps=1000,
                       backend="numba", progress=True, tag="soft-selection"):
    """Soft selection on the ``regimes`` task: a group of two 4-unit modules against single
    modules of 4 and 8 units (all period 1)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = {"one module, 4 units": ["model.module_size=4"],
            "one module, 8 units": ["model.module_size=8"],
            "selection: 2 x 4 units": ["model.module_size=4", "model.variant=select",
                                       "model.group_size=2"]}
    grid = [(name, seed) for name in rows for seed in seeds]
    bar = _bar(len(grid), f"experiment {tag}", progress)
    results, started, example = [], time.perf_counter(), None
    with tempfile.TemporaryDirectory() as tmp:
        for name, seed in grid:
            cfg = task_defaults("regimes")
            apply_overrides(cfg, rows[name] + [
                f"train.steps={steps}", f"train.seed={seed}", "train.progress=false",
                f"train.runs_dir={tmp}", "train.checkpoint_every=0",
                f"model.backend={backend}"])
            t = time.perf_counter()
            r = train(cfg, log=lambda m: None, plots=False)
            row = dict(name=name, seed=seed, params=r.net.n_params(),
                       seconds=time.perf_counter() - t, mse=float(r.final["test"]["mse"]),
                       sets=rows[name])
            if r.net.kind == "select":
                task = make_task(cfg)
                b = task.test
                y, cache = r.net.forward(r.params, b.x, backend=backend)
                s = b.x[:, :, 1]                                     # (L, N) regime
                g0 = cache.g[:, :, 0]                                # (L, N)
                row["g0_plus"], row["g0_minus"] = float(g0[s > 0].mean()), \
                    float(g0[s < 0].mean())
                row["specialisation"] = abs(row["g0_plus"] - row["g0_minus"])
                if example is None:
                    example = dict(g=cache.g[:, 0].tolist(), s=s[:, 0].tolist(),
                                   y=y[:, 0, 0].tolist(), target=b.target[:, 0, 0].tolist())
            results.append(row)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    settings = dict(steps=steps, seeds=list(seeds), machine=machine(),
                    wall=time.perf_counter() - started, backend=backend, out_dir=str(out_dir))
    (out_dir / f"{tag}.json").write_text(json.dumps(
        {"settings": settings, "runs": results, "example": example}, indent=1))
    write_table(out_dir, tag, results)
    _selection_figure(out_dir / f"{tag}.png", example)
    (out_dir / f"{tag}.md").write_text(_selection_report(results, settings, tag))
    return results


def _selection_figure(path, ex):
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    g, s = np.asarray(ex["g"]), np.asarray(ex["s"])
    t = np.arange(len(s))
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(8, 4.5), sharex=True)
    for ax in (a1, a2):
        for k in t[s > 0]:
            ax.axvspan(k - 0.5, k + 0.5, color="0.92", lw=0)
    a1.plot(t, g[:, 0], color="tab:blue", lw=1.2, label="g_0 (module 0)")
    a1.plot(t, g[:, 1], color="tab:orange", lw=1.2, label="g_1 (module 1)")
    a1.set_ylabel("selection g_t")
    a1.set_ylim(-0.05, 1.05)
    a1.legend(fontsize=7, loc="upper right")
    a1.set_title("soft selection on a test sequence (shaded: regime s = +1)")
    a2.plot(t, ex["target"], color="0.3", lw=1.4, label="target s_t u_(t-2)")
    a2.plot(t, ex["y"], color="tab:red", lw=1, label="output")
    a2.set_xlabel("step t")
    a2.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _selection_report(results, s, tag):
    names = list(dict.fromkeys(r["name"] for r in results))
    lines = [
        "# Demonstration: soft selection among same-clock modules (the design note's "
        "\"blurry selection\")", "",
        "Task `regimes` (`cwrnn list`): input u_t uniform in [-1, 1] and a regime flag "
        "s_t = ±1 that flips every 16 steps; target y_t = s_t u_(t-2) (96 steps, MSE; "
        "predicting 0 scores 1/3). Every network has period-1 modules only, so this isolates "
        "the selection. Adam 3e-3, clipped at norm 1, batch 32, "
        f"{s['steps']} steps, seeds {s['seeds']}; temperature 1.", "",
        f"Machine: {s['machine']}; wall time {s['wall'] / 60:.1f} min "
        f"(backend {s['backend']}).", "", REPRODUCE, ""] + _fence(
        command(f"cwrnn experiment soft-selection --steps {s['steps']} --seeds "
                f"{len(s['seeds'])}", s.get("out_dir", ""))) + [
        "", "| network | parameters | test MSE | mean g_0 when s = +1 | mean g_0 when s = −1 |"
        " specialisation | specialisation per seed |", "|---|---|---|---|---|---|---|"]
    for name in names:
        rs = [r for r in results if r["name"] == name]
        sel = "g0_plus" in rs[0]
        lines.append(
            f"| {name} | {rs[0]['params']} | {_mean_std([r['mse'] for r in rs])} | "
            + (f"{_mean_std([r['g0_plus'] for r in rs])} | "
               f"{_mean_std([r['g0_minus'] for r in rs])} | "
               f"{_mean_std([r['specialisation'] for r in rs])} | "
               + ", ".join(f"{r['specialisation']:.2f}" for r in rs) + " |"
               if sel else "– | – | – | – |"))
    lines += ["", f"![selection over a test sequence]({tag}.png)", "",
              "Specialisation is |mean g_0 (s = +1) − mean g_0 (s = −1)| over the test set: 0 "
              "when the selection ignores the regime, 1 when each regime uses its own module. "
              "Mean ± standard deviation over seeds; the figure is seed 0.", ""]
    return "\n".join(lines)
