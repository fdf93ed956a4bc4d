"""The ``cwrnn`` command line (also ``python -m cwrnn_np``).

Subcommands::

    cwrnn train TASK [--config FILE.toml] [--set key=value ...] [--resume RUN] [--until STEP]
    cwrnn evaluate RUN
    cwrnn sample RUN [--length N] [--temperature T] [--seed S]
    cwrnn gradcheck [--backend numpy|numba|all] [--seed S]
    cwrnn experiment generation|classification|charlm|learned-periods|soft-selection ...
    cwrnn harden RUN [--out DIR]
    cwrnn bench [benchmark options]
    cwrnn list

Every command that runs a network (all but ``bench`` and ``list``) also takes
``--threads N``: Numba and BLAS threads together, default all cores (``cwrnn_np.threads``).

Every bad input (unknown task, bad key or value, missing file, unwritable folder, corrupt
checkpoint) ends with a one-line ``cwrnn: error: ...`` on stderr and exit status 2; a training
divergence ends with exit status 1 and keeps the last good checkpoint. See ``docs/usage.md``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

__all__ = ["main"]


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def _fmt_metrics(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in metrics.items()
                     if isinstance(v, (int, float)) and not isinstance(v, bool))


def cmd_train(args) -> int:
    from .training.config import apply_overrides, load_config
    from .training.tasks import task_defaults
    from .training.train import load_run, train

    if args.resume:
        cfg, _, _, meta = load_run(args.resume)
        apply_overrides(cfg, args.set)
        if args.task != cfg.task:
            raise CLIError(f"--resume {args.resume} is a {cfg.task!r} run, not {args.task!r}")
        print(f"resuming {args.resume} at step {meta['step']}", file=sys.stderr)
    else:
        cfg = task_defaults(args.task)
        if args.config:
            cfg = load_config(args.config, cfg)
            if cfg.task != args.task:
                raise CLIError(f"{args.config} sets task = {cfg.task!r}, but the command line "
                               f"says {args.task!r}")
        apply_overrides(cfg, args.set)
    if args.runs_dir:
        cfg.train.runs_dir = args.runs_dir
    if args.no_progress:
        cfg.train.progress = False
    result = train(cfg, resume=args.resume, until=args.until,
                   log=lambda m: print(m, file=sys.stderr))
    for split, metrics in result.final.items():
        print(f"{split}: {_fmt_metrics(metrics)}", file=sys.stderr)
    print(result.run_dir)
    return 0


def _load(run):
    from .training.tasks import make_task
    from .training.train import load_run

    cfg, net, params, meta = load_run(run)
    cfg.train.progress = False
    return cfg, net, params, meta, make_task(cfg)


def cmd_evaluate(args) -> int:
    cfg, net, params, meta, task = _load(args.run)
    out = {"run": str(args.run), "step": meta["step"]}
    for split in ("valid", "test"):
        m = task.evaluate(lambda x, h, t0: net.forward(
            params, x, h_init=h, t0=cfg.model.clock_start + t0, backend=cfg.model.backend),
            split)
        out[split] = {k: float(v) for k, v in m.items() if np.ndim(v) == 0}
    print(json.dumps(out, indent=1))
    return 0


def _scores(task, net, params, cfg) -> dict:
    out = {}
    for split in ("valid", "test"):
        m = task.evaluate(lambda x, h, t0: net.forward(
            params, x, h_init=h, t0=cfg.model.clock_start + t0, backend=cfg.model.backend),
            split)
        out[split] = {k: float(v) for k, v in m.items() if np.ndim(v) == 0}
    return out


def cmd_harden(args) -> int:
    """Snap a learned-periods run to its most likely periods: an ordinary CW-RNN run folder."""
    import copy

    from .training.checkpoint import save_checkpoint
    from .training.config import config_to_dict
    from .models.learned_periods import harden, module_periods
    from .models.readout import Net

    cfg, net, params, meta, task = _load(args.run)
    if net.kind != "learned":
        raise CLIError(f"{args.run} is not a learned-periods run (model.variant="
                       f"{cfg.model.variant!r}); nothing to harden")
    core = {k: v for k, v in params.items() if k not in ("W_R", "b_R")}
    x = task.train_batch(0).x          # the emitted form's periods are averaged over this batch
    mp = module_periods(core, net.spec, x, t0=cfg.model.clock_start)
    hard_spec, hard_params = harden(core, net.spec, x, t0=cfg.model.clock_start)
    hard_params.update({k: params[k] for k in ("W_R", "b_R") if k in params})
    hard = Net("cwrnn", hard_spec, net.readout)
    hcfg = copy.deepcopy(cfg)
    m = hcfg.model
    m.variant, m.periods, m.phases = "clockwork", list(hard_spec.periods), None
    m.module_sizes = list(hard_spec.module_sizes)
    m.connectivity = hard_spec.C.tolist()
    m.input_modules = [bool(v) for v in hard_spec.R]
    out_dir = Path(args.out) if args.out else Path(args.run) / "hardened"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create {out_dir}: {exc.strerror}") from None
    (out_dir / "config.json").write_text(json.dumps(config_to_dict(hcfg), indent=1))
    save_checkpoint(out_dir, hard_params, {}, {
        "spec": hard.to_dict(), "config": config_to_dict(hcfg), "step": meta["step"],
        "optimizer": meta.get("optimizer"), "rng": meta.get("rng"),
        "history": meta.get("history"), "task": cfg.task, "hardened_from": str(args.run)})
    report = {"run": str(args.run), "hardened": str(out_dir),
              "mean_period": np.exp(mp["mean_log"]).round(3).tolist(),
              "sigma": np.round(mp["sigma"], 4).tolist(),
              "periods": list(hard_spec.periods),
              "soft": _scores(task, net, params, cfg),
              "hard": _scores(task, hard, hard_params, hcfg)}
    print(json.dumps(report, indent=1))
    return 0


def cmd_sample(args) -> int:
    cfg, net, params, meta, task = _load(args.run)
    run_dir = Path(args.run)
    dtype = next(iter(params.values())).dtype
    if cfg.task == "generation":
        L = args.length or task.batch.x.shape[0]
        y, _ = net.forward(params, np.zeros((L, 1, 0), dtype), t0=cfg.model.clock_start,
                           backend=cfg.model.backend)
        wave = y[:, 0, 0]
        np.save(run_dir / "sample.npy", wave)
        import matplotlib
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 3))
        target = task.batch.target[:, 0, 0]
        ax.plot(target, color="0.3", lw=1.5, label="target (training clip)")
        ax.plot(wave, color="tab:red", lw=1, label=f"generated, {L} steps")
        ax.axvline(len(target) - 0.5, color="0.6", ls=":")
        ax.legend(loc="upper right")
        ax.set_xlabel("step t")
        fig.tight_layout()
        fig.savefig(run_dir / "sample.png", dpi=100)
        plt.close(fig)
        print(run_dir / "sample.png")
        return 0
    if cfg.task == "text":
        print(task.sample(net, params, args.length or 400, args.temperature, args.seed))
        return 0
    raise CLIError(f"sample supports the generation and text tasks, not {cfg.task!r}")


def cmd_gradcheck(args) -> int:
    import warnings

    import cwrnn_np as cw

    backends = sorted(cw.BACKENDS) if args.backend == "all" else [args.backend]
    for b in backends:
        if b not in cw.BACKENDS:
            raise CLIError(f"--backend must be one of {sorted(cw.BACKENDS)} or all, got {b!r}")
    variants = [(preset, dict()) for preset in cw.masks.CONNECTIVITY_PRESETS]
    variants += [
        ("clockwork + phases, t0=3", dict(phases=[0, 1, 2], t0=3)),
        ("full + input to fastest", dict(connectivity="full", input_modules="fastest")),
        ("clockwork + resets + learned h0", dict(learn_h0=True, resets=[4, 9])),
        ("symmetric [1,3,5,3,1]", dict(periods=[1, 3, 5, 3, 1], sizes=[2, 2, 2, 2, 2],
                                       connectivity="upper-triangular")),
        ("odd-even", dict(odd_even=True)),
        ("srn", dict(srn=True)),
        ("clockwork + h_init", dict(h_init=True)),
    ]
    print(f"{'variant':<34s} {'backend':<7s} {'max rel. error':>15s}  worst entry")
    ok = True
    rng = np.random.default_rng(args.seed)
    for name, v in variants:
        if isinstance(name, str) and name in cw.masks.CONNECTIVITY_PRESETS and not v:
            v = dict(connectivity=name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cw.UnreachableModuleWarning)
            if v.get("srn"):
                spec = cw.srn_spec(2, 5, 2)
            else:
                spec = cw.ClockworkSpec(2, 2, v.get("sizes", [2, 3, 2]),
                                        v.get("periods", [1, 3, 5]), v.get("phases"),
                                        v.get("connectivity", "clockwork"),
                                        v.get("input_modules", "all"), v.get("learn_h0", False))
                if v.get("odd_even"):
                    spec = cw.odd_even(spec)
        params = cw.init_params(spec, rng)
        params["b_H"] = 0.3 * rng.standard_normal(spec.hidden_size)
        if spec.learn_h0:
            params["h_0"] = 0.5 * rng.standard_normal(spec.hidden_size)
        x = rng.standard_normal((13, 2, 2))
        h_init = 0.5 * rng.standard_normal((2, spec.hidden_size)) if v.get("h_init") else None
        for b in backends:
            rep = cw.gradcheck(params, spec, x, h_init=h_init, t0=v.get("t0", 0),
                               resets=v.get("resets"), backend=b,
                               rng=np.random.default_rng(args.seed))
            passed = rep.passed(1e-6)
            ok &= passed
            wname, widx, _, _ = rep.worst
            print(f"{name:<34s} {b:<7s} {rep.max_rel_error:15.3e}  {wname}{list(widx)}"
                  f"{'' if passed else '  FAIL'}")
    from .models.lstm import LSTMSpec, gradcheck_lstm, init_lstm_params
    for name, peep in (("lstm", False), ("lstm + peepholes", True)):
        spec = LSTMSpec(2, 2, 3, peepholes=peep, learn_h0=True)
        params = init_lstm_params(spec, rng)
        for key in ("p_i", "p_f", "p_o", "h_0"):
            if key in params:
                params[key] = 0.5 * rng.standard_normal(params[key].shape)
        x = rng.standard_normal((9, 2, 2))
        for b in backends:
            rep = gradcheck_lstm(params, spec, x, resets=[4], backend=b,
                                 rng=np.random.default_rng(args.seed))
            passed = rep.passed(1e-6)
            ok &= passed
            wname, widx, _, _ = rep.worst
            print(f"{name:<34s} {b:<7s} {rep.max_rel_error:15.3e}  {wname}{list(widx)}"
                  f"{'' if passed else '  FAIL'}")
    ok &= _gradcheck_variants(backends, rng, args.seed)
    print("all gradients agree with finite differences (tolerance 1e-6)" if ok
          else "SOME GRADIENT CHECKS FAILED")
    return 0 if ok else 1


def _gradcheck_variants(backends, rng, seed) -> bool:
    """The design note's deeper variants (docs/variants.md): soft selection and learned
    periods (static and emitted), with perturbed initial parameters so no gradient is trivial."""
    import cwrnn_np as cw
    from .models.learned_periods import LearnedPeriodSpec, gradcheck_periods, init_period_params
    from .models.selection import SelectionSpec, gradcheck_select, group_modules, init_select_params

    base = cw.ClockworkSpec(2, 2, [2, 3, 2], [1, 2, 4], learn_h0=True)
    cases = [
        ("select: groups of 2, tau=0.7", group_modules(base, 2, 0.7), init_select_params,
         gradcheck_select),
        ("select: one group among modules",
         SelectionSpec(cw.ClockworkSpec(2, 2, [2, 2, 2, 1], [1, 3, 3, 2], connectivity="full"),
                       [[1, 2]], 1.5), init_select_params, gradcheck_select),
        ("learned periods, static", LearnedPeriodSpec(base, [1, 2, 3, 4, 6, 8], "static", 0.7),
         init_period_params, gradcheck_periods),
        ("learned periods, emitted", LearnedPeriodSpec(base, None, "emitted", 0.7, 0.8),
         init_period_params, gradcheck_periods),
    ]
    ok = True
    for name, spec, init, check in cases:
        params = init(spec, rng)
        for k, mask in spec.param_masks().items():
            noise = 0.3 * rng.standard_normal(params[k].shape)
            params[k] = params[k] + (noise if mask is None else np.where(mask, noise, 0.0))
        x = rng.standard_normal((13, 2, 2))
        for b in backends:
            rep = check(params, spec, x, t0=1, resets=[6], backend=b,
                        rng=np.random.default_rng(seed))
            passed = rep.passed(1e-6)
            ok &= passed
            wname, widx, _, _ = rep.worst
            print(f"{name:<34s} {b:<7s} {rep.max_rel_error:15.3e}  {wname}{list(widx)}"
                  f"{'' if passed else '  FAIL'}")
    return ok


#: the experiments and demonstrations of ``cwrnn experiment NAME``
EXPERIMENT_NAMES = ("generation", "classification", "charlm", "learned-periods",
                    "soft-selection")


def cmd_experiment(args) -> int:
    from .experiments.paper import run_classification, run_generation

    import datetime

    seeds = tuple(range(args.seeds))
    tag = args.name
    if args.out_dir is None:       # a new run folder, so no report is overwritten
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        args.out_dir = str(Path("runs") / "experiments" / f"{args.name}-{stamp}")
    if args.name == "generation":
        tag = "generation" if args.source == "embedded" else f"generation-{args.source}"
        run_generation(out_dir=args.out_dir, seeds=seeds, steps=args.steps or 2000,
                       source=args.source, tag=tag,
                       clips=tuple(range(args.clips)) if args.clips else (0, 1, 2, 3, 4))
    elif args.name == "charlm":
        from .experiments.paper import run_charlm
        tag = "charlm-small" if args.small else "charlm"
        run_charlm(out_dir=args.out_dir, path=args.path, seconds=args.seconds,
                   small=args.small, tag=tag, readout=args.readout)
    elif args.name == "classification":
        run_classification(out_dir=args.out_dir, seeds=seeds, steps=args.steps or 600,
                           data_dir=args.data_dir)
    elif args.name == "learned-periods":
        from .experiments.demos import run_learned_periods
        run_learned_periods(out_dir=args.out_dir, seeds=seeds, steps=args.steps or 1000)
    elif args.name == "soft-selection":
        from .experiments.demos import run_soft_selection
        run_soft_selection(out_dir=args.out_dir, seeds=seeds, steps=args.steps or 1000)
    else:
        raise CLIError(f"unknown experiment {args.name!r}; choose {', '.join(EXPERIMENT_NAMES)}")
    print(Path(args.out_dir) / f"{tag}.md")
    return 0


def cmd_bench(args, rest) -> int:
    from .bench.runner import main as bench_main
    bench_main(rest)
    return 0


def cmd_list(args) -> int:
    from . import masks
    from .training.optim import OPTIMIZERS
    from .training.tasks import TASKS

    print("tasks (cwrnn train TASK):")
    for name, t in TASKS.items():
        print(f"  {name:<12s} {t.description}")
    print("connectivity presets (--set model.connectivity=...):")
    for p in masks.CONNECTIVITY_PRESETS:
        print(f"  {p}")
    print("input routing (--set model.input_modules=...): " + ", ".join(masks.INPUT_PRESETS)
          + ", or a list of booleans")
    print("period schedules (--set model.periods=...): exponential, fibonacci, symmetric, "
          "fibonacci-symmetric, linear, random, or a list such as [1,4,16,4,1]")
    print("model kinds (--set model.kind=...): cwrnn, srn, lstm")
    print("variants of a cwrnn (--set model.variant=...): clockwork, select, learned-static, "
          "learned-emitted (docs/variants.md)")
    print("optimizers (--set optim.name=...): " + ", ".join(OPTIMIZERS))
    print("dynamic forgetting (--set train.forgetting=...): off, piecewise, geometric")
    return 0


def _threads_arg(text: str) -> int:
    """Parse ``--threads N``: a positive integer."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return n


def _add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_threads_arg, default=None, metavar="N",
                        help="threads for Numba kernels and BLAS together (default: all "
                             "cores; 1 when running many jobs side by side)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cwrnn", description="Clockwork RNNs in NumPy/Numba: "
                                "train, evaluate, sample, audit gradients, benchmark.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    t = sub.add_parser("train", help="train a network on a task")
    t.add_argument("task", help="task name (cwrnn list)")
    t.add_argument("--config", help="TOML file with [model], [optim], [train], [data] tables")
    t.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. model.connectivity=full (repeatable)")
    t.add_argument("--resume", metavar="RUN", help="continue the run in this folder")
    t.add_argument("--until", type=int, metavar="STEP",
                   help="stop after STEP steps in all (checkpointed; resume later)")
    t.add_argument("--runs-dir", help="parent folder of run folders (default: runs)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_threads(t)
    e = sub.add_parser("evaluate", help="metrics of a run's checkpoint on valid and test")
    e.add_argument("run", help="run folder")
    _add_threads(e)
    s = sub.add_parser("sample", help="generate from a trained run (generation or text)")
    s.add_argument("run", help="run folder")
    s.add_argument("--length", type=int, default=0, help="steps to generate")
    s.add_argument("--temperature", type=float, default=1.0, help="text sampling temperature")
    s.add_argument("--seed", type=int, default=0, help="sampling seed")
    _add_threads(s)
    g = sub.add_parser("gradcheck", help="audit every variant's gradients (table)")
    g.add_argument("--backend", default="all", help="numpy, numba or all (default)")
    g.add_argument("--seed", type=int, default=0)
    _add_threads(g)
    x = sub.add_parser("experiment", help="run a paper/design-note experiment, write its report")
    x.add_argument("name", help=", ".join(EXPERIMENT_NAMES))
    x.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    x.add_argument("--steps", type=int, default=0, help="training steps per run")
    x.add_argument("--source", default="embedded", help="generation: embedded, eeg, membrane")
    x.add_argument("--clips", type=int, default=0, help="generation: first N clips (default 5)")
    x.add_argument("--data-dir", default="", help="classification: Japanese Vowels folder")
    x.add_argument("--out-dir", default=None,
                   help="where the report, JSON, CSV and figures go (default: a new run "
                        "folder runs/experiments/NAME-TIMESTAMP; docs/experiments rewrites "
                        "the documentation pages)")
    x.add_argument("--path", default="../shared/data/tinyshakespeare.txt",
                   help="charlm: the text file")
    x.add_argument("--seconds", type=float, default=240.0,
                   help="charlm: training time budget per configuration")
    x.add_argument("--readout", type=int, default=0,
                   help="charlm: units of a tanh layer before the softmax (the note: 1024)")
    x.add_argument("--small", action="store_true",
                   help="charlm: tiny networks, a pipeline check (CI)")
    _add_threads(x)
    hd = sub.add_parser("harden", help="snap a learned-periods run to an ordinary CW-RNN")
    hd.add_argument("run", help="a run folder trained with model.variant=learned-*")
    hd.add_argument("--out", help="folder for the hardened run (default RUN/hardened)")
    _add_threads(hd)
    sub.add_parser("bench", help="benchmark (see python -m cwrnn_np.bench --help)",
                   add_help=False)
    sub.add_parser("list", help="tasks, variants, schedules, optimizers")
    return p


def main(argv=None) -> int:
    from .training.checkpoint import CheckpointError
    from .training.config import ConfigError
    from .training.train import TrainingDiverged

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "bench":
        return cmd_bench(None, argv[1:])
    args = parser.parse_args(argv)
    try:
        if hasattr(args, "threads"):       # the commands that run models
            from .threads import set_threads
            set_threads(args.threads)
        handler = {"train": cmd_train, "evaluate": cmd_evaluate, "sample": cmd_sample,
                   "gradcheck": cmd_gradcheck, "list": cmd_list,
                   "experiment": cmd_experiment, "harden": cmd_harden}[args.command]
        return handler(args)
    except TrainingDiverged as exc:
        print(f"cwrnn: {exc}", file=sys.stderr)
        return 1
    except (CLIError, ConfigError, CheckpointError, FileNotFoundError, PermissionError,
            ValueError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"cwrnn: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cwrnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
