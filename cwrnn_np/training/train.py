r"""The training loop: minibatches, truncated BPTT with carried state, dynamic forgetting,
validation and early stopping, atomic checkpoints, exact resume and divergence detection.

One **step** is one optimizer update on one minibatch (the task's ``train_batch``, e.g.
:meth:`cwrnn_np.training.tasks.GenerationTask.train_batch`):

.. math::

    y, \text{cache} = \text{forward}(\theta, x; h_{\text{init}}, t_0, \text{resets}), \quad
    (\ell, \bar y) = \text{loss}(y), \quad
    \bar\theta = \text{backward}(\bar y), \quad
    \theta \leftarrow \text{update}(\theta, \bar\theta).

* **State and step.** Everything that changes during training is one :class:`TrainState`
  (parameters, optimizer state, step count, carried hidden state, early-stopping bookkeeping);
  everything fixed by the config is one :class:`RunSetup` (task, network, optimizer, masks,
  schedules). :func:`train_step` is the pure map ``(state, batch) -> (state, metrics)``: forward,
  loss, backward and update, no I/O. :func:`train` wraps it in small functions that read the
  batch of a step (:func:`batch_at`), validate, log ``metrics.jsonl``, checkpoint, and watch the
  time budget.
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
  ``default_rng([seed, 1, k])``, the initial parameters from ``default_rng([seed, 0])`` and a
  ``"random"`` period schedule from ``default_rng([seed, 4])``, so a run is a pure function of
  its config; the checkpoint's RNG state is the seed and the next batch index. Training N steps
  equals training k, stopping, resuming and training N − k, bitwise. A resumed run keeps the
  network stored in its checkpoint, so its periods are those it was trained with.
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
from .optim import NonFiniteGradientError, Optimizer, make_optimizer
from ..spec import ClockworkSpec
from .tasks import Batch, Task, make_task

__all__ = ["train", "train_step", "TrainState", "RunSetup", "setup_run", "batch_at", "build_spec",
           "build_net", "temperature_at", "ForgettingSchedule", "TrainingDiverged", "RunResult",
           "load_run"]

#: the counter-based stream of a "random" period schedule, ``default_rng([seed, 4])``; the
#: trainer's other streams are 0 (initial weights), 1 (batches), 2 and 3 (synthetic validation
#: and test sets) and 7 (the vowels split)
PERIODS_STREAM = 4


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


def build_net(m, input_size: int, output_size: int, seed: int = 0) -> Net:
    """The :class:`cwrnn_np.models.readout.Net` of a :class:`cwrnn_np.training.config.ModelConfig`.

    ``seed`` is the run's ``train.seed``; it draws a ``"random"`` period schedule
    (:func:`build_spec`).
    """
    if m.readout_size < 0:
        raise ConfigError(f"model.readout_size must be >= 0, got {m.readout_size}")
    if m.variant != "clockwork" and m.kind != "cwrnn":
        raise ConfigError(f"model.variant={m.variant!r} needs model.kind='cwrnn', "
                          f"got {m.kind!r}")
    if m.readout_size:
        core = build_net(dataclasses.replace(m, readout_size=0), input_size, m.readout_size,
                         seed)
        return Net(core.kind, core.spec, readout=output_size)
    if m.kind == "lstm":
        from ..models.lstm import LSTMSpec
        try:
            spec = LSTMSpec(input_size, output_size, _hidden_size(m), peepholes=m.peepholes,
                            forget_bias=m.forget_bias, learn_h0=m.learn_h0)
        except ValueError as exc:
            raise ConfigError(f"model: {exc}") from None
        return Net("lstm", spec)
    spec = build_spec(m, input_size, output_size, seed)
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


def build_spec(m, input_size: int, output_size: int, seed: int = 0) -> ClockworkSpec:
    """The :class:`ClockworkSpec` of a :class:`cwrnn_np.training.config.ModelConfig` (kind cwrnn or srn).

    ``seed`` is the run's ``train.seed``: ``periods = "random"`` draws n periods from 1 to
    :math:`2^{n-1}` (:func:`cwrnn_np.schedules.random`) with ``default_rng([seed, 4])``, so
    different seeds give different schedules and one seed always the same. A checkpoint stores
    the spec with its periods, so loading or resuming a run never draws them again.
    """
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
            periods = schedules.random(n, 1, 2 ** (n - 1),
                                       np.random.default_rng([int(seed), PERIODS_STREAM]))
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


def _stored_net(meta: dict, where) -> Net:
    """The network a checkpoint's metadata describes (its spec at the configured temperature)."""
    try:
        return Net.from_dict(meta["spec"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint in {where} holds an invalid spec ({exc})") from None


def load_run(run_dir) -> tuple[Config, Net, dict, dict]:
    """(config, net, params, meta) of a run folder's checkpoint."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder not found: {run_dir}")
    params, _, meta, _ = load_checkpoint(run_dir)
    cfg = config_from_dict(meta["config"])
    net = _stored_net(meta, run_dir)
    # a variant runs at the temperature its schedule had reached at the checkpoint
    net = net.at_temperature(temperature_at(cfg.model, int(meta["step"]), cfg.train.steps))
    return cfg, net, params, meta


# ----- the run's fixed parts and its state ---------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RunSetup:
    """What a run fixes once, from its config, and every step only reads (:func:`setup_run`)."""

    cfg: Config
    task: Task
    net: Net                           # as configured: a variant at its start temperature
    opt: Optimizer
    masks: dict                        # name -> bool array or None (structural zeros stay 0)
    forgetting: ForgettingSchedule
    n_chunks: int                      # truncated-BPTT chunks per batch (1: whole sequences)

    def live(self, step: int) -> Net:
        """The net as it runs after ``step`` updates: a variant's temperature is annealed
        (:func:`temperature_at`); checkpoints keep the configured start value."""
        return self.net.at_temperature(temperature_at(self.cfg.model, step,
                                                      self.cfg.train.steps))


@dataclasses.dataclass(frozen=True)
class TrainState:
    """Everything training changes, after ``step`` updates; with the :class:`RunSetup` it is all
    a checkpoint holds. The RNG state is not stored: batch k is a pure function of
    ``train.seed`` and k, so ``step`` is the counter of the next batch (:func:`batch_at`).
    """

    params: dict                       # name -> array
    opt_state: dict                    # the optimizer's slots (cwrnn_np.training.optim)
    step: int                          # updates done = index of the next batch chunk
    carried: np.ndarray | None = None  # (B, H) last state (LSTM: h, c), next chunk's h_init
    best: dict | None = None           # the parameters at best_valid
    best_valid: float | None = None    # lowest validation metric so far
    evals_since_best: int = 0          # evaluations without improvement (early stopping)
    stopped_early: bool = False

    @property
    def history(self) -> dict:
        """The early-stopping bookkeeping as the checkpoint's ``meta["history"]``."""
        return {"best_valid": self.best_valid, "evals_since_best": self.evals_since_best,
                "stopped_early": self.stopped_early}


def _make_optimizer(o) -> Optimizer:
    extra = {"momentum": o.momentum} if o.name in ("sgd", "nesterov") else (
        {"beta1": o.beta1, "beta2": o.beta2, "eps": o.eps} if o.name == "adam" else
        {"decay": o.decay, "eps": o.eps} if o.name == "rmsprop" else {})
    try:
        return make_optimizer(o.name, lr=o.lr, clip_norm=o.clip_norm, clip_value=o.clip_value,
                              **extra)
    except ValueError as exc:
        raise ConfigError(f"optim: {exc}") from None


def setup_run(cfg: Config) -> RunSetup:
    """Check ``cfg`` and build the run's fixed parts; ConfigError (naming the key) before any
    file is written."""
    task: Task = make_task(cfg)
    net = build_net(cfg.model, task.input_size, task.output_size, cfg.train.seed)
    opt = _make_optimizer(cfg.optim)
    t = cfg.train
    if t.budget_clock not in ("wall", "cpu"):
        raise ConfigError(f"train.budget_clock must be wall or cpu, got {t.budget_clock!r}")
    forgetting = ForgettingSchedule(t.forgetting, tuple(t.forgetting_periods),
                                    t.forgetting_start, t.forgetting_end)
    if t.steps < 1:
        raise ConfigError(f"train.steps must be >= 1, got {t.steps}")
    if cfg.model.clock_start < 0:
        raise ConfigError(f"model.clock_start must be >= 0, got {cfg.model.clock_start}")
    # truncated BPTT within a batch: step -> (batch, chunk); the state and the clock carry on
    # from chunk to chunk of one batch (and across batches for a stateful task)
    C = t.chunk_length
    if C < 0:
        raise ConfigError(f"train.chunk_length must be >= 0, got {C}")
    if C and not task.per_step:
        raise ConfigError(f"train.chunk_length applies to tasks with a loss at every step "
                          f"(generation, text, copy), not {cfg.task!r}")
    L = task.train_batch(0).x.shape[0]
    return RunSetup(cfg=cfg, task=task, net=net, opt=opt, masks=net.param_masks(),
                    forgetting=forgetting, n_chunks=-(-L // C) if C else 1)


def batch_at(setup: RunSetup, step: int) -> Batch:
    """The batch (or truncated-BPTT chunk) of update number ``step`` (0-based): chunk
    ``step mod n_chunks`` of batch ``step // n_chunks``, with its clock offset and whether it
    continues the previous one."""
    task, C = setup.task, setup.cfg.train.chunk_length
    b, c = divmod(step, setup.n_chunks)
    batch = task.train_batch(b)
    if setup.n_chunks == 1:
        return batch if task.stateful else dataclasses.replace(batch, continues=False)
    part = slice(c * C, (c + 1) * C)
    return dataclasses.replace(batch, x=batch.x[part], target=batch.target[part],
                               t0=batch.t0 + c * C,
                               continues=c > 0 or (task.stateful and batch.continues))


def train_step(state: TrainState, batch: Batch, setup: RunSetup) -> tuple[TrainState, dict]:
    """One update on ``batch``: forward, loss, backward, optimizer step. No I/O, no RNG;
    ``state`` is left as it was.

    Returns the state after the update and its metrics: ``{"loss": ℓ}``, plus
    ``"forget_period": F`` when dynamic forgetting is on. Raises :class:`TrainingDiverged`
    (naming the 1-based step) if the loss, a gradient or an updated parameter is not finite.
    """
    cfg = setup.cfg
    cs, backend = cfg.model.clock_start, cfg.model.backend
    net = setup.live(state.step)
    h_init = state.carried if batch.continues else None
    F = setup.forgetting.period(state.step, cfg.train.steps)
    resets = setup.forgetting.resets(F, cs + batch.t0, batch.x.shape[0])
    where = f"training diverged at step {state.step + 1}"
    # overflow is detected below, explicitly, so numpy's warnings are silenced here
    with np.errstate(over="ignore", invalid="ignore"):
        y, cache = net.forward(state.params, batch.x, h_init=h_init, t0=cs + batch.t0,
                               resets=resets, backend=backend)
        loss, dy = setup.task.loss(y, batch)
        if not math.isfinite(loss):
            raise TrainingDiverged(f"{where}: the loss is {loss}")
        grads = net.backward(state.params, dy, cache, backend=backend)
        try:
            params, opt_state = setup.opt.update(state.params, grads, state.opt_state,
                                                 setup.masks, backend=backend)
        except NonFiniteGradientError as exc:
            raise TrainingDiverged(f"{where}: {exc}") from None
        if not all(np.isfinite(v).all() for v in params.values()):
            raise TrainingDiverged(f"{where}: the update made a parameter non-finite")
    carried = cache.h_last if (setup.task.stateful or setup.n_chunks > 1) else None
    metrics = {"loss": loss} if F is None else {"loss": loss, "forget_period": F}
    return dataclasses.replace(state, params=params, opt_state=opt_state, step=state.step + 1,
                               carried=carried), metrics


def _track_best(state: TrainState, value: float, patience: int) -> TrainState:
    """Early-stopping bookkeeping after a validation score ``value`` (lower is better)."""
    if state.best_valid is None or value < state.best_valid:
        return dataclasses.replace(state, best_valid=value, evals_since_best=0,
                                   best={k: v.copy() for k, v in state.params.items()})
    n = state.evals_since_best + 1
    stop = state.stopped_early or bool(patience and n >= patience)
    return dataclasses.replace(state, evals_since_best=n, stopped_early=stop)


# ----- around the step: state in and out, evaluation, logging ----------------------------------

def _fresh_state(setup: RunSetup) -> TrainState:
    cfg = setup.cfg
    params = setup.net.init(np.random.default_rng([cfg.train.seed, 0]),
                            dtype=np.dtype(cfg.model.dtype), scale=cfg.model.init_scale)
    return TrainState(params=params, opt_state=setup.opt.init(params), step=0)


def _resumed(setup: RunSetup, resume) -> tuple[RunSetup, TrainState]:
    """The setup and state of the run folder ``resume``. Its config must equal ``setup.cfg``
    except for ``train.steps``, ``train.progress`` and ``train.runs_dir``; its network is the one
    stored in the checkpoint (never rebuilt, so a ``random`` schedule keeps its periods)."""
    _, _, meta, _ = load_checkpoint(resume)
    saved = config_from_dict(meta["config"])
    for k in ("steps", "progress", "runs_dir"):
        setattr(saved.train, k, getattr(setup.cfg.train, k))
    if config_to_dict(saved) != config_to_dict(setup.cfg):
        raise CheckpointError(f"checkpoint in {resume} was made with a different config; "
                              f"resume with the run's own config (cwrnn train --resume)")
    net = _stored_net(meta, resume)
    params, opt_state, meta, arrays = load_checkpoint(resume, net)  # checks the shapes
    history = meta["history"]
    state = TrainState(params=params, opt_state=opt_state, step=int(meta["step"]),
                       carried=arrays.get("carried"),
                       best={k[5:]: v for k, v in arrays.items() if k.startswith("best/")} or None,
                       best_valid=history["best_valid"],
                       evals_since_best=history["evals_since_best"],
                       stopped_early=history["stopped_early"])
    return dataclasses.replace(setup, net=net, masks=net.param_masks()), state


def _save(run_dir: Path, setup: RunSetup, state: TrainState) -> None:
    """Write the checkpoint of ``state`` atomically (:func:`save_checkpoint`)."""
    cfg = setup.cfg
    meta = {"spec": setup.net.to_dict(), "config": config_to_dict(cfg), "step": state.step,
            "optimizer": {**setup.opt.to_dict(), "updates": int(state.opt_state["step"])},
            "rng": {"kind": "counter", "seed": cfg.train.seed, "next_batch": state.step},
            "history": state.history, "task": cfg.task}
    arrays = {} if state.carried is None else {"carried": state.carried}
    if state.best is not None:
        arrays.update({f"best/{k}": v for k, v in state.best.items()})
    save_checkpoint(run_dir, state.params, state.opt_state, meta, arrays)


def _evaluate(setup: RunSetup, params: dict, step: int, split: str) -> dict:
    """``task.evaluate`` on ``split`` of the network at ``step`` with ``params``."""
    net, cfg = setup.live(step), setup.cfg

    def run(x, h, t0):
        return net.forward(params, x, h_init=h, t0=cfg.model.clock_start + t0,
                           backend=cfg.model.backend)

    return setup.task.evaluate(run, split)


def _trim_metrics(path: Path, step: int) -> None:
    """Keep exactly the lines of ``metrics.jsonl`` written up to the checkpoint at ``step``."""
    kept = [ln for ln in path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in kept))


def _prepare_kernels(setup: RunSetup, state: TrainState, log) -> float | None:
    """Compile (first run) or load (later runs) the Numba kernels that this run uses, before the
    progress bar starts, so that the bar's rate and ETA measure training only; say so in two
    status lines. Returns the seconds it took, or None on the NumPy backend.

    :func:`cwrnn_np.training.prepare.prepare_kernels` runs the network once forward and backward
    on the first step of one sequence of the next batch: that is the run's family and dtype, and
    each kernel has one signature per dtype, so nothing else is compiled later. On a first run it
    compiles the backward kernel in a helper process while this one compiles the forward kernel.
    The functions are pure, so the run's results do not change.
    """
    if setup.cfg.model.backend != "numba":
        return None
    from .prepare import prepare_kernels
    x = batch_at(setup, state.step).x[:1, :1]                      # (1, 1, D)
    log("preparing the numba kernels (compiled on a first run only, then loaded from the "
        "on-disk cache) ...")
    started = time.perf_counter()
    prepare_kernels(setup.live(state.step), state.params, x, t0=setup.cfg.model.clock_start)
    seconds = time.perf_counter() - started
    log(f"numba kernels ready in {seconds:.1f} s")
    return seconds


def _progress_bar(cfg: Config, start: int, stop_at: int):
    """A tqdm bar from ``start`` to ``stop_at``, or None when ``train.progress`` is off."""
    if not cfg.train.progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=stop_at, initial=start, desc=f"train {cfg.task}", unit="step",
                dynamic_ncols=True, mininterval=0.5)


def _write(mf, record: dict) -> None:
    mf.write(json.dumps(record) + "\n")


def _loop(setup: RunSetup, state: TrainState, stop_at: int, run_dir: Path, mf, bar, log,
          on_step) -> tuple[TrainState, bool]:
    """Train from ``state`` until ``stop_at`` updates, early stopping or the time budget;
    return the last state and whether the budget ran out. Writes ``metrics.jsonl`` lines to
    ``mf`` and checkpoints to ``run_dir``."""
    t = setup.cfg.train
    clock = time.perf_counter if t.budget_clock == "wall" else time.process_time
    started = clock()
    out_of_time = False
    while state.step < stop_at and not state.stopped_early and not out_of_time:
        state, metrics = train_step(state, batch_at(setup, state.step), setup)
        step = state.step
        if on_step is not None:
            on_step(step, state.params)
        _write(mf, {"step": step, "split": "train", **metrics})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{metrics['loss']:.4g}")
        eval_due = bool(t.eval_every) and step % t.eval_every == 0
        if eval_due or step == t.steps:
            valid = _json_safe(_evaluate(setup, state.params, step, "valid"))
            if valid:
                _write(mf, {"step": step, "split": "valid", **valid})
                state = _track_best(state, valid[setup.task.metric], t.patience)
                if state.stopped_early:
                    log(f"early stop at step {step}: no {setup.task.metric} improvement in "
                        f"{t.patience} evaluations")
        mf.flush()
        out_of_time = bool(t.max_seconds) and clock() - started > t.max_seconds
        if out_of_time:
            log(f"time budget of {t.max_seconds:g} s ({t.budget_clock}) used up at step {step}")
            if not eval_due:
                valid = _json_safe(_evaluate(setup, state.params, step, "valid"))
                if valid:
                    _write(mf, {"step": step, "split": "valid", **valid})
        if (t.checkpoint_every and step % t.checkpoint_every == 0) or step == stop_at \
                or state.stopped_early or out_of_time:
            _save(run_dir, setup, state)
    return state, out_of_time


def _finish(setup: RunSetup, state: TrainState, run_dir: Path, plots: bool, log) -> dict:
    """Final metrics on "valid" and "test" (of the best parameters when early stopping is on),
    ``final.json`` and the plots."""
    params = state.best if (state.best is not None and setup.cfg.train.patience) \
        else state.params
    final = {split: _evaluate(setup, params, state.step, split) for split in ("valid", "test")}
    (run_dir / "final.json").write_text(json.dumps(
        {s: _json_safe(m) for s, m in final.items()}, indent=1))
    try:
        from ..experiments.report import write_plots
        if plots:
            write_plots(run_dir, setup.task, setup.net, final)
    except Exception as exc:  # plots are a convenience; never lose a run over them
        log(f"warning: could not write plots: {exc}")
    return final


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
    setup = setup_run(cfg)
    if resume is not None:
        setup, state = _resumed(setup, resume)
        run_dir = Path(resume)
    else:
        state = _fresh_state(setup)
        run_dir = Path(run_dir) if run_dir is not None else _new_run_dir(cfg)
        run_dir.mkdir(parents=True, exist_ok=True)
    metrics_path = run_dir / "metrics.jsonl"
    if resume is not None and metrics_path.exists():
        _trim_metrics(metrics_path, state.step)
    (run_dir / "config.json").write_text(json.dumps(config_to_dict(cfg), indent=1))
    if resume is None:
        _save(run_dir, setup, state)

    stop_at = cfg.train.steps if until is None else min(until, cfg.train.steps)
    if state.step < stop_at:
        _prepare_kernels(setup, state, log)
    bar = _progress_bar(cfg, state.step, stop_at)
    try:
        with metrics_path.open("a") as mf:
            state, out_of_time = _loop(setup, state, stop_at, run_dir, mf, bar, log, on_step)
    except TrainingDiverged as exc:
        raise TrainingDiverged(f"{exc}; the last good checkpoint is kept in {run_dir}") \
            from None
    finally:
        if bar is not None:
            bar.close()

    done = state.step >= cfg.train.steps or state.stopped_early or out_of_time
    final = _finish(setup, state, run_dir, plots, log) if done else {}
    return RunResult(run_dir=run_dir, step=state.step, params=state.params,
                     net=setup.live(state.step), final=final, best_valid=state.best_valid,
                     stopped_early=state.stopped_early)
