r"""The training loop: minibatches, truncated BPTT with carried state, dynamic forgetting,
validation and early stopping, atomic checkpoints, exact resume and divergence detection.

One **step** is one optimizer update on one minibatch (:meth:`cwrnn_np.training.tasks.Task.train_batch`):

.. math::

    y, \text{cache} = \text{forward}(\theta, x; h_{\text{init}}, t_0, \text{resets}), \quad
    (\ell, \bar y) = \text{loss}(y), \quad
    \bar\theta = \text{backward}(\bar y), \quad
    \theta \leftarrow \text{update}(\theta, \bar\theta).

* **Carried state.** For a stateful task (text), a batch that continues the previous one starts
  from the previous batch's last state ``cache.h_last`` and clock offset, so the clock runs on
  across batches (truncated BPTT: no gradient crosses the boundary). With
  ``train.chunk_length`` = C > 0, a task with a loss at every step cuts each batch into chunks
  of C steps, one update per chunk, with the state and the clock carried from chunk to chunk.
* **Dynamic forgetting** (design note): with period F, the state is reset to r at every global
  step g = t0 + t with g > 0 and g mod F = 0 (the ``resets`` of :func:`cwrnn_np.forward`), and
  F grows over training: piecewise constant over equal stages (the note's 3 → 10 → 100 → 1000)
  or geometric, :math:`F(p) = F_0 (F_1/F_0)^p` at progress :math:`p = \text{step}/\text{steps}`.
  Off by default.
* **Determinism.** Batch k is drawn from the counter-based generator
  ``default_rng([seed, 1, k])`` and the initial parameters from ``default_rng([seed, 0])``, so a
  run is a pure function of its config; the checkpoint's RNG state is the seed and the next batch
  index. Training N steps equals training k, stopping, resuming and training N − k, bitwise.
* **Divergence.** A NaN or inf in the loss or a gradient stops training with
  :class:`TrainingDiverged`, naming the step; the last good checkpoint stays on disk untouched.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import time
from pathlib import Path

import numpy as np

from .. import schedules
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .config import Config, ConfigError, config_from_dict, config_to_dict
from ..models.readout import Net
from .optim import NonFiniteGradientError, make_optimizer
from ..spec import ClockworkSpec
from .tasks import Task, make_task

__all__ = ["train", "build_spec", "build_net", "ForgettingSchedule", "TrainingDiverged", "RunResult",
           "load_run"]


class TrainingDiverged(RuntimeError):
    """The loss or a gradient became NaN or inf; the message names the step."""


@dataclasses.dataclass
class RunResult:
    """What :func:`train` returns."""

    run_dir: Path
    step: int
    params: dict
    net: Net
    final: dict          # metrics of the final parameters on "valid" and "test"
    best_valid: float | None
    stopped_early: bool


def _hidden_size(m) -> int:
    if m.hidden_size is not None:
        return m.hidden_size
    return sum(m.module_sizes) if m.module_sizes else m.n_modules * m.module_size


def build_net(m, input_size: int, output_size: int) -> Net:
    """The :class:`cwrnn_np.models.readout.Net` of a :class:`cwrnn_np.training.config.ModelConfig`."""
    if m.readout_size < 0:
        raise ConfigError(f"model.readout_size must be >= 0, got {m.readout_size}")
    if m.variant != "clockwork" and m.kind != "cwrnn":
        raise ConfigError(f"model.variant={m.variant!r} needs model.kind='cwrnn', "
                          f"got {m.kind!r}")
    if m.readout_size:
        core = build_net(dataclasses.replace(m, readout_size=0), input_size, m.readout_size)
        return Net(core.kind, core.spec, readout=output_size)
    if m.kind == "lstm":
        from ..models.lstm import LSTMSpec
        try:
            spec = LSTMSpec(input_size, output_size, _hidden_size(m), peepholes=m.peepholes,
                            forget_bias=m.forget_bias, learn_h0=m.learn_h0)
        except ValueError as exc:
            raise ConfigError(f"model: {exc}") from None
        return Net("lstm", spec)
    spec = build_spec(m, input_size, output_size)
    if m.variant == "clockwork":
        return Net(m.kind, spec)
    if m.temperature_end is not None and not m.temperature_end > 0:
        raise ConfigError(f"model.temperature_end must be > 0 (or None), got "
                          f"{m.temperature_end!r}")
    try:
        if m.variant == "select":
            from ..models.selection import SelectionSpec, group_modules
            if m.groups:
                return Net("select", SelectionSpec(spec, m.groups, m.temperature))
            return Net("select", group_modules(spec, m.group_size, m.temperature))
        if m.variant in ("learned-static", "learned-emitted"):
            from ..models.learned_periods import LearnedPeriodSpec
            return Net("learned", LearnedPeriodSpec(
                spec, m.candidate_periods, m.variant.split("-")[1], m.sigma_init,
                m.temperature))
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None
    raise ConfigError(f"model.variant must be one of {', '.join(VARIANTS)}; "
                      f"got {m.variant!r}")


#: the values of ``model.variant``
VARIANTS = ("clockwork", "select", "learned-static", "learned-emitted")


def temperature_at(m, step: int, steps: int) -> float:
    r"""The temperature of a variant after ``step`` of ``steps`` optimizer steps:
    :math:`\tau = \tau_0 (\tau_1 / \tau_0)^{\text{step}/\text{steps}}`, from
    ``model.temperature`` to ``model.temperature_end`` (constant when that is None)."""
    if m.temperature_end is None or steps <= 0:
        return m.temperature
    frac = min(max(step / steps, 0.0), 1.0)
    return float(m.temperature * (m.temperature_end / m.temperature) ** frac)


def build_spec(m, input_size: int, output_size: int) -> ClockworkSpec:
    """The :class:`ClockworkSpec` of a :class:`cwrnn_np.training.config.ModelConfig` (kind cwrnn or srn)."""
    if m.kind == "srn":
        return ClockworkSpec(input_size, output_size, [_hidden_size(m)], [1],
                             learn_h0=m.learn_h0)
    if m.kind != "cwrnn":
        raise ConfigError(f"model.kind must be 'cwrnn', 'srn' or 'lstm', got {m.kind!r}")
    sizes = list(m.module_sizes) if m.module_sizes else [m.module_size] * m.n_modules
    n = len(sizes)
    if isinstance(m.periods, str):
        name = m.periods
        if name == "exponential":
            periods = schedules.exponential(n, m.period_base)
        elif name == "fibonacci":
            periods = schedules.fibonacci(n)
        elif name == "symmetric":
            periods = schedules.symmetric(n, m.period_base)
        elif name == "fibonacci-symmetric":
            periods = schedules.symmetric(schedules.fibonacci((n + 1) // 2))
        elif name == "linear":
            periods = schedules.linear(n)
        elif name == "random":
            periods = schedules.random(n, 1, 2 ** (n - 1), np.random.default_rng(0))
        else:
            raise ConfigError(f"model.periods must be a list or one of exponential, fibonacci, "
                              f"symmetric, fibonacci-symmetric, linear, random; got {name!r}")
    else:
        periods = m.periods
    if len(periods) != n:
        raise ConfigError(f"model.periods has {len(periods)} entries but there are {n} modules")
    try:
        return ClockworkSpec(input_size, output_size, sizes, periods, m.phases, m.connectivity,
                             m.input_modules, m.learn_h0)
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None


@dataclasses.dataclass(frozen=True)
class ForgettingSchedule:
    r"""Dynamic forgetting: the reset period F as training progresses (design note).

    ``kind`` is ``"off"``, ``"piecewise"`` (``periods`` over equal stages of training) or
    ``"geometric"`` (:math:`F = F_0 (F_1/F_0)^p`, rounded).
    """

    kind: str = "off"
    periods: tuple = (3, 10, 100, 1000)
    start: int = 3
    end: int = 1000

    def __post_init__(self):
        if self.kind not in ("off", "piecewise", "geometric"):
            raise ConfigError(f"train.forgetting must be off, piecewise or geometric, "
                              f"got {self.kind!r}")
        if self.kind == "piecewise" and (not self.periods or any(
                not isinstance(p, int) or p < 1 for p in self.periods)):
            raise ConfigError(f"train.forgetting_periods must be integers >= 1, "
                              f"got {list(self.periods)}")
        if self.kind == "geometric" and not 1 <= self.start <= self.end:
            raise ConfigError(f"train.forgetting_start/end must satisfy 1 <= start <= end, "
                              f"got {self.start}, {self.end}")

    def period(self, step: int, steps: int) -> int | None:
        """F at ``step`` of ``steps`` (None when off)."""
        if self.kind == "off":
            return None
        p = step / max(steps, 1)
        if self.kind == "piecewise":
            return int(self.periods[min(int(p * len(self.periods)), len(self.periods) - 1)])
        return int(round(self.start * (self.end / self.start) ** p))

    @staticmethod
    def resets(F: int | None, t0: int, L: int) -> list:
        """Local steps t of a call (offset t0, length L) with t0 + t > 0 and (t0 + t) mod F = 0."""
        if F is None:
            return []
        first = (-t0) % F
        return [t for t in range(first, L, F) if t0 + t > 0]


def _json_safe(metrics: dict) -> dict:
    return {k: float(v) for k, v in metrics.items() if np.ndim(v) == 0}


def _new_run_dir(cfg: Config) -> Path:
    root = Path(cfg.train.runs_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create runs folder {root}: {exc.strerror}") from None
    if not os.access(root, os.W_OK):
        raise ConfigError(f"runs folder {root} is not writable")
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{cfg.task}-{stamp}-s{cfg.train.seed}"
    for k in range(1000):
        path = root / (base if k == 0 else f"{base}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise ConfigError(f"could not create a new run folder under {root}")


def load_run(run_dir) -> tuple[Config, Net, dict, dict]:
    """(config, net, params, meta) of a run folder's checkpoint."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder not found: {run_dir}")
    params, _, meta, _ = load_checkpoint(run_dir)
    cfg = config_from_dict(meta["config"])
    try:
        net = Net.from_dict(meta["spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint in {run_dir} holds an invalid spec ({exc})") from None
    # a variant runs at the temperature its schedule had reached at the checkpoint
    net = net.at_temperature(temperature_at(cfg.model, int(meta["step"]), cfg.train.steps))
    return cfg, net, params, meta


def train(cfg: Config, run_dir=None, resume=None, until: int | None = None,
          log=print, plots: bool = True, on_step=None) -> RunResult:
    """Train a network as ``cfg`` says; return a :class:`RunResult`.

    Parameters
    ----------
    cfg : Config
    run_dir : folder to write into (default: a new folder under ``cfg.train.runs_dir``)
    resume : a run folder whose checkpoint to continue from (its config must match ``cfg``
        except for ``train.steps``, ``train.progress`` and ``train.runs_dir``)
    until : stop after this many steps in all (a checkpoint is written), e.g. to resume later
    log : where one-line messages go
    plots : write the PNG plots at the end (experiments running many runs turn this off)
    on_step : optional ``on_step(step, params)``, called after every update (to record how
        parameters evolve, e.g. learned periods); it must not modify ``params``
    """
    task: Task = make_task(cfg)
    net = build_net(cfg.model, task.input_size, task.output_size)
    dtype = np.dtype(cfg.model.dtype)
    o = cfg.optim
    extra = {"momentum": o.momentum} if o.name in ("sgd", "nesterov") else (
        {"beta1": o.beta1, "beta2": o.beta2, "eps": o.eps} if o.name == "adam" else
        {"decay": o.decay, "eps": o.eps} if o.name == "rmsprop" else {})
    try:
        opt = make_optimizer(o.name, lr=o.lr, clip_norm=o.clip_norm, clip_value=o.clip_value,
                             **extra)
    except ValueError as exc:
        raise ConfigError(f"optim: {exc}") from None
    if cfg.train.budget_clock not in ("wall", "cpu"):
        raise ConfigError(f"train.budget_clock must be wall or cpu, got "
                          f"{cfg.train.budget_clock!r}")
    forgetting = ForgettingSchedule(cfg.train.forgetting, tuple(cfg.train.forgetting_periods),
                                    cfg.train.forgetting_start, cfg.train.forgetting_end)
    masks = net.param_masks()
    steps = cfg.train.steps
    if steps < 1:
        raise ConfigError(f"train.steps must be >= 1, got {steps}")

    # ----- state: fresh or resumed ---------------------------------------------------------
    history = {"best_valid": None, "evals_since_best": 0, "stopped_early": False}
    carried = None
    if resume is not None:
        params, opt_state, meta, arrays = load_checkpoint(resume, net)
        saved = config_from_dict(meta["config"])
        for section, keys in (("train", ("steps", "progress", "runs_dir")),):
            for k in keys:
                setattr(getattr(saved, section), k, getattr(getattr(cfg, section), k))
        if config_to_dict(saved) != config_to_dict(cfg):
            raise CheckpointError(f"checkpoint in {resume} was made with a different config; "
                                  f"resume with the run's own config (cwrnn train --resume)")
        start = int(meta["step"])
        history = meta["history"]
        carried = arrays.get("carried")
        best = {k[5:]: v for k, v in arrays.items() if k.startswith("best/")} or None
        run_dir = Path(resume)
    else:
        params = net.init(np.random.default_rng([cfg.train.seed, 0]), dtype=dtype,
                          scale=cfg.model.init_scale)
        opt_state = opt.init(params)
        start = 0
        best = None
        run_dir = Path(run_dir) if run_dir is not None else _new_run_dir(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / "metrics.jsonl"
    if resume is not None and metrics_path.exists():
        # keep exactly the lines written up to the checkpoint
        kept = [ln for ln in metrics_path.read_text().splitlines()
                if ln and json.loads(ln)["step"] <= start]
        metrics_path.write_text("".join(ln + "\n" for ln in kept))
    (run_dir / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=1))

    cs = cfg.model.clock_start
    if cs < 0:
        raise ConfigError(f"model.clock_start must be >= 0, got {cs}")

    def live(step):
        """The net as it runs after ``step`` updates: a variant's temperature is annealed
        (:func:`temperature_at`); the checkpoint's spec keeps the configured start value."""
        return net.at_temperature(temperature_at(cfg.model, step, steps))

    def run(x, h, t0):
        return live(step).forward(params, x, h_init=h, t0=cs + t0, backend=cfg.model.backend)

    def checkpoint(step):
        meta = {"spec": net.to_dict(), "config": config_to_dict(cfg), "step": step,
                "optimizer": {**opt.to_dict(), "updates": int(opt_state["step"])},
                "rng": {"kind": "counter", "seed": cfg.train.seed, "next_batch": step},
                "history": history, "task": cfg.task}
        arrays = {} if carried is None else {"carried": carried}
        if best is not None:
            arrays.update({f"best/{k}": v for k, v in best.items()})
        save_checkpoint(run_dir, params, opt_state, meta, arrays)

    # truncated BPTT within a batch: step -> (batch, chunk); the state and the clock carry on
    # from chunk to chunk of one batch (and across batches for a stateful task)
    C = cfg.train.chunk_length
    L0 = task.train_batch(0).x.shape[0]
    if C < 0:
        raise ConfigError(f"train.chunk_length must be >= 0, got {C}")
    if C and not task.per_step:
        raise ConfigError(f"train.chunk_length applies to tasks with a loss at every step "
                          f"(generation, text, copy), not {cfg.task!r}")
    n_chunks = -(-L0 // C) if C else 1

    def chunk_of(step):
        b, c = divmod(step, n_chunks)
        batch = task.train_batch(b)
        if n_chunks == 1:
            return batch if task.stateful else dataclasses.replace(batch, continues=False)
        part = slice(c * C, (c + 1) * C)
        return dataclasses.replace(batch, x=batch.x[part], target=batch.target[part],
                                   t0=batch.t0 + c * C,
                                   continues=c > 0 or (task.stateful and batch.continues))

    if resume is None:
        checkpoint(0)
    stop_at = steps if until is None else min(until, steps)
    bar = None
    if cfg.train.progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=stop_at, initial=start, desc=f"train {cfg.task}", unit="step",
                   dynamic_ncols=True, mininterval=0.5)
    mf = metrics_path.open("a")
    step = start
    clock = time.perf_counter if cfg.train.budget_clock == "wall" else time.process_time
    started = clock()
    out_of_time = False
    try:
        while step < stop_at and not history["stopped_early"] and not out_of_time:
            batch = chunk_of(step)
            h_init = carried if batch.continues else None
            F = forgetting.period(step, steps)
            resets = forgetting.resets(F, cs + batch.t0, batch.x.shape[0])
            # overflow is detected below, explicitly, so numpy's warnings are silenced here
            with np.errstate(over="ignore", invalid="ignore"):
                y, cache = live(step).forward(params, batch.x, h_init=h_init,
                                              t0=cs + batch.t0,
                                       resets=resets, backend=cfg.model.backend)
                loss, dy = task.loss(y, batch)
                if not math.isfinite(loss):
                    raise TrainingDiverged(f"training diverged at step {step + 1}: the loss "
                                           f"is {loss}")
                grads = live(step).backward(params, dy, cache, backend=cfg.model.backend)
                try:
                    params, opt_state = opt.update(params, grads, opt_state, masks)
                except NonFiniteGradientError as exc:
                    raise TrainingDiverged(f"training diverged at step {step + 1}: "
                                           f"{exc}") from None
                if not all(np.isfinite(v).all() for v in params.values()):
                    raise TrainingDiverged(f"training diverged at step {step + 1}: the update "
                                           f"made a parameter non-finite")
            carried = cache.h_last if (task.stateful or n_chunks > 1) else None
            step += 1
            if on_step is not None:
                on_step(step, params)
            record = {"step": step, "split": "train", "loss": loss}
            if F is not None:
                record["forget_period"] = F
            mf.write(json.dumps(record) + "\n")
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4g}")
            if (cfg.train.eval_every and step % cfg.train.eval_every == 0) or step == steps:
                valid = _json_safe(task.evaluate(run, "valid"))
                if valid:
                    mf.write(json.dumps({"step": step, "split": "valid", **valid}) + "\n")
                    value = valid[task.metric]
                    if history["best_valid"] is None or value < history["best_valid"]:
                        history["best_valid"] = value
                        history["evals_since_best"] = 0
                        best = {k: v.copy() for k, v in params.items()}
                    else:
                        history["evals_since_best"] += 1
                        if cfg.train.patience and \
                                history["evals_since_best"] >= cfg.train.patience:
                            history["stopped_early"] = True
                            log(f"early stop at step {step}: no {task.metric} improvement in "
                                f"{cfg.train.patience} evaluations")
            mf.flush()
            out_of_time = bool(cfg.train.max_seconds) and \
                clock() - started > cfg.train.max_seconds
            if out_of_time:
                log(f"time budget of {cfg.train.max_seconds:g} s ({cfg.train.budget_clock}) "
                    f"used up at step {step}")
                if not (cfg.train.eval_every and step % cfg.train.eval_every == 0):
                    valid = _json_safe(task.evaluate(run, "valid"))
                    if valid:
                        mf.write(json.dumps({"step": step, "split": "valid", **valid}) + "\n")
            if (cfg.train.checkpoint_every and step % cfg.train.checkpoint_every == 0) \
                    or step == stop_at or history["stopped_early"] or out_of_time:
                checkpoint(step)
    except TrainingDiverged as exc:
        mf.close()
        if bar is not None:
            bar.close()
        raise TrainingDiverged(f"{exc}; the last good checkpoint is kept in {run_dir}") \
            from None
    finally:
        if not mf.closed:
            mf.close()
        if bar is not None:
            bar.close()

    final = {}
    if step >= steps or history["stopped_early"] or out_of_time:
        final_params = best if (best is not None and cfg.train.patience) else params
        for split in ("valid", "test"):
            metrics = task.evaluate(
                lambda x, h, t0: live(step).forward(final_params, x, h_init=h, t0=cs + t0,
                                                    backend=cfg.model.backend), split)
            final[split] = metrics
        (run_dir / "final.json").write_text(json.dumps(
            {s: _json_safe(m) for s, m in final.items()}, indent=1))
        try:
            from ..experiments.report import write_plots
            if plots:
                write_plots(run_dir, task, net, final)
        except Exception as exc:  # plots are a convenience; never lose a run over them
            log(f"warning: could not write plots: {exc}")
    return RunResult(run_dir=run_dir, step=step, params=params, net=live(step), final=final,
                     best_valid=history["best_valid"], stopped_early=history["stopped_early"])
