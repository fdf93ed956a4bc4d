r"""Tasks: what a run trains on, its loss and its metrics.

Each task turns a :class:`cwrnn_np.training.config.Config` into data and answers four questions for the
trainer (:mod:`cwrnn_np.training.train`):

* ``input_size``, ``output_size``: D and O of the network;
* ``train_batch(index)``: minibatch number ``index`` (a :class:`Batch`), a pure function of the
  seed and the index, so that a resumed run draws exactly the batches it would have drawn;
* ``loss(y, batch)``: ``(loss, dy)`` from :mod:`cwrnn_np.losses`;
* ``evaluate(run, split)``: metrics on ``"valid"`` or ``"test"``, where ``run(x, h_init, t0)``
  is the network's forward pass; ``metric`` names the one that early stopping watches (lower is
  better).

Tasks (``cwrnn list``):

* ``generation`` — Koutník et al. 2014, §4.1: no input; the network emits a 320-sample clip on
  its own; MSE loss; metric: normalised MSE, :math:`\text{NMSE} = \overline{(y-\hat y)^2} /
  \operatorname{Var}(\hat y)`;
* ``vowels`` — Japanese Vowels speaker classification, softmax cross-entropy at each sequence's
  last valid step; metric: error rate;
* ``text`` — character-level language model with carried state (truncated BPTT over B parallel
  streams); metric: nats per character;
* ``adding`` — the adding problem, MSE at the last step; metric: MSE (1/6 for the mean guess);
* ``copy`` — copy memory, per-step cross-entropy; metric: nats per step.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .. import data as datasets
from .config import Config, ConfigError
from ..losses import mse, softmax_cross_entropy, softmax_cross_entropy_last

__all__ = ["Batch", "TASKS", "make_task", "Task"]


@dataclasses.dataclass
class Batch:
    """One minibatch.

    Attributes
    ----------
    x : (L, B, D) inputs in the network's dtype.
    target : the task's targets (see each task).
    lengths : (B,) valid lengths, or None (all L).
    mask : (L, B) bool, positions that count in the loss, or None (all).
    t0 : clock offset of step 0 (a text stream continues the clock across batches).
    continues : True if this batch continues the previous one (carry the hidden state).
    """

    x: np.ndarray
    target: np.ndarray
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None
    t0: int = 0
    continues: bool = False


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """A counter-based stream: the generator for (seed, *stream) is independent of every other."""
    return np.random.default_rng([int(seed), *stream])


class Task:
    """Base class; see the module docstring."""

    name = ""
    description = ""
    metric = "loss"
    #: the trainer carries the hidden state from one batch to the next when a batch continues
    stateful = False
    #: the loss has a term at every step, so a batch can be cut into truncated-BPTT chunks
    #: (``train.chunk_length``) whose targets are the matching slices of ``Batch.target``
    per_step = False

    @staticmethod
    def defaults(cfg: Config) -> None:
        """Set the defaults that suit this task (before the user's file and --set)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.dtype = np.dtype(cfg.model.dtype)

    def _x(self, a):
        return np.ascontiguousarray(a, dtype=self.dtype)


class GenerationTask(Task):
    name = "generation"
    description = ("reproduce a 320-sample clip with no input (the paper's §4.1); "
                   "data.source = embedded | eeg | membrane, data.clip = index")
    metric = "nmse"
    per_step = True

    @staticmethod
    def defaults(cfg):
        # the paper's network shape (9 modules, periods 1..256) and optimizer (Nesterov
        # momentum 0.95); size, rate and length chosen by a small sweep on clip 0
        # (docs/usage.md): NMSE about 1e-3 in a few seconds
        cfg.model.n_modules, cfg.model.module_size = 9, 8
        cfg.model.periods = "exponential"
        cfg.model.learn_h0 = False
        cfg.optim.name, cfg.optim.lr, cfg.optim.momentum = "nesterov", 3e-2, 0.95
        cfg.optim.clip_norm = 1.0
        cfg.train.steps, cfg.train.batch_size, cfg.train.eval_every = 5000, 1, 250
        cfg.data.length = 320

    def __init__(self, cfg):
        super().__init__(cfg)
        clips, self.info = datasets.generation_dataset(cfg.data.source, length=cfg.data.length)
        if not 0 <= cfg.data.clip < len(clips):
            raise ConfigError(f"data.clip must be in 0..{len(clips) - 1} for source "
                              f"{cfg.data.source!r}, got {cfg.data.clip}")
        self.clip = clips[cfg.data.clip]                                  # (L,)
        self.input_size, self.output_size = 0, 1
        L = len(self.clip)
        self.batch = Batch(x=self._x(np.zeros((L, 1, 0))),
                           target=self._x(self.clip[:, None, None]))     # (L, 1, 1)

    def train_batch(self, index):
        return self.batch

    def loss(self, y, batch):
        return mse(y, batch.target)

    def evaluate(self, run, split):
        y, _ = run(self.batch.x, None, 0)
        err = float(np.mean((y - self.batch.target) ** 2))
        return {"mse": err, "nmse": err / float(np.var(self.batch.target)), "output": y}


class VowelsTask(Task):
    name = "vowels"
    description = ("Japanese Vowels speaker classification (9 classes); "
                   "data.data_dir = folder with the .ts files")
    metric = "error"

    @staticmethod
    def defaults(cfg):
        cfg.model.n_modules, cfg.model.module_size = 5, 20
        cfg.model.periods = "exponential"
        cfg.optim.name, cfg.optim.lr = "adam", 3e-3
        cfg.optim.clip_norm = 5.0
        cfg.train.steps, cfg.train.batch_size, cfg.train.eval_every = 600, 32, 50
        cfg.train.patience = 0

    def __init__(self, cfg):
        super().__init__(cfg)
        d = datasets.load_japanese_vowels(cfg.data.data_dir or None)
        train, self.test = d["train"], d["test"]
        n = len(train["y"])
        perm = _rng(cfg.train.seed, 7).permutation(n)
        n_valid = int(round(cfg.data.valid_fraction * n))
        if not 0 <= n_valid < n:
            raise ConfigError(f"data.valid_fraction must leave training data, got "
                              f"{cfg.data.valid_fraction}")
        self.train_idx, valid_idx = perm[n_valid:], perm[:n_valid]
        self.train = train
        self.valid = {k: (v[:, valid_idx] if k == "x" else v[valid_idx]) for k, v in
                      train.items()} if n_valid else None
        self.input_size, self.output_size = train["x"].shape[2], len(d["classes"])
        self.classes = d["classes"]

    def train_batch(self, index):
        B = min(self.cfg.train.batch_size, len(self.train_idx))
        idx = _rng(self.cfg.train.seed, 1, index).choice(self.train_idx, size=B, replace=False)
        lengths = self.train["lengths"][idx]
        L = int(lengths.max())
        return Batch(x=self._x(self.train["x"][:L, idx]), target=self.train["y"][idx],
                     lengths=lengths)

    def loss(self, y, batch):
        return softmax_cross_entropy_last(y, batch.target, batch.lengths)

    def evaluate(self, run, split):
        d = self.valid if split == "valid" else self.test
        if d is None:
            return {}
        y, _ = run(self._x(d["x"]), None, 0)
        loss, _ = softmax_cross_entropy_last(y, d["y"], d["lengths"])
        pred = y[d["lengths"] - 1, np.arange(len(d["y"]))].argmax(axis=1)
        acc = float(np.mean(pred == d["y"]))
        return {"loss": loss, "accuracy": acc, "error": 1 - acc}


class TextTask(Task):
    name = "text"
    description = ("character-level language model; data.path = UTF-8 file (default: Python "
                   "standard-library source), data.length = chunk length")
    metric = "nats"
    stateful = True
    per_step = True

    @staticmethod
    def defaults(cfg):
        cfg.model.n_modules, cfg.model.module_size = 3, 64
        cfg.model.periods = [1, 4, 16]
        cfg.optim.name, cfg.optim.lr = "adam", 2e-3
        cfg.optim.clip_norm = 5.0
        cfg.train.steps, cfg.train.batch_size, cfg.train.eval_every = 1000, 16, 100
        cfg.data.length = 64

    def __init__(self, cfg):
        super().__init__(cfg)
        text = (datasets.read_text(cfg.data.path) if cfg.data.path
                else datasets.stdlib_corpus())
        self.vocab = datasets.Vocabulary.from_text(text)
        ids = self.vocab.encode(text)
        self.splits = dict(zip(("train", "valid", "test"), datasets.split(ids)))
        self.input_size = self.output_size = self.vocab.size
        L, B = cfg.data.length, cfg.train.batch_size
        if len(self.splits["train"]) < L * B + 1:
            raise ConfigError(f"the training text ({len(self.splits['train'])} characters) is "
                              f"shorter than data.length * train.batch_size + 1 = {L * B + 1}")
        self.train_chunks = list(datasets.batch_stream(self.splits["train"], L, B))

    def _one_hot(self, ids):
        return self._x(datasets.one_hot(ids, self.vocab.size))

    def train_batch(self, index):
        k = index % len(self.train_chunks)
        x, y = self.train_chunks[k]
        return Batch(x=self._one_hot(x), target=y, t0=k * self.cfg.data.length,
                     continues=k > 0)

    def loss(self, y, batch):
        return softmax_cross_entropy(y, batch.target)

    def sample(self, net, params, length: int, temperature: float = 1.0, seed: int = 0,
               prime: str | None = None) -> str:
        """``length`` characters sampled one step at a time (state and clock carried), after
        ``prime`` (default: the first character of the validation text)."""
        cfg = self.cfg
        rng = np.random.default_rng(seed)
        V = self.vocab.size
        prime = prime or self.vocab.decode(self.splits["valid"][:1])
        ids = self.vocab.encode(prime)
        h, out, t = None, [prime], 0
        for step in range(len(ids) - 1 + length):
            idx = int(ids[step]) if step < len(ids) else idx
            x = np.zeros((1, 1, V), self.dtype)
            x[0, 0, idx] = 1
            y, cache = net.forward(params, x, h_init=h, t0=cfg.model.clock_start + t,
                                   backend=cfg.model.backend)
            h, t = cache.h_last, t + 1
            if step >= len(ids) - 1:
                z = y[0, 0] / max(temperature, 1e-6)
                p = np.exp(z - z.max())
                idx = int(rng.choice(V, p=p / p.sum()))
                out.append(self.vocab.decode(np.array([idx])))
        return "".join(out)

    def evaluate(self, run, split):
        ids = self.splits[split]
        L = self.cfg.data.length
        B = max(1, min(self.cfg.train.batch_size, (len(ids) - 1) // L))
        total, count, h, t0 = 0.0, 0, None, 0
        for x, y in datasets.batch_stream(ids, L, B):
            out, cache = run(self._one_hot(x), h, t0)
            loss, _ = softmax_cross_entropy(out, y)
            total += loss * y.size
            count += y.size
            h, t0 = cache.h_last, t0 + L
        return {"nats": total / max(count, 1), "bits": total / max(count, 1) / np.log(2)}


class _SyntheticTask(Task):
    """A task whose data is generated: fresh training batches, fixed validation and test sets.

    Subclasses define ``_make(n, rng) -> Batch`` and their sizes; batch k of training and the
    two evaluation sets come from independent counter-based generators.
    """

    input_size = output_size = 0

    @staticmethod
    def _synthetic_defaults(cfg, module_size, steps, eval_every, length):
        cfg.model.n_modules, cfg.model.module_size = 4, module_size
        cfg.optim.name, cfg.optim.lr = "adam", 3e-3
        cfg.optim.clip_norm = 1.0
        cfg.train.steps, cfg.train.batch_size, cfg.train.eval_every = steps, 32, eval_every
        cfg.data.length = length

    def __init__(self, cfg):
        super().__init__(cfg)
        self.valid = self._make(cfg.data.n_valid, _rng(cfg.train.seed, 2))
        self.test = self._make(cfg.data.n_valid, _rng(cfg.train.seed, 3))

    def _make(self, n, rng) -> Batch:
        raise NotImplementedError

    def train_batch(self, index):
        return self._make(self.cfg.train.batch_size, _rng(self.cfg.train.seed, 1, index))


class AddingTask(_SyntheticTask):
    name = "adding"
    description = "adding problem (MSE at the last step); data.length = sequence length"
    metric = "mse"
    input_size, output_size = 2, 1

    @staticmethod
    def defaults(cfg):
        _SyntheticTask._synthetic_defaults(cfg, module_size=16, steps=3000, eval_every=250,
                                           length=50)

    def _make(self, n, rng):
        x, y = datasets.adding_problem(n, self.cfg.data.length, rng)
        L = x.shape[0]
        target = np.zeros((L, n, 1))
        target[-1] = y
        mask = np.zeros((L, n), bool)
        mask[-1] = True
        return Batch(x=self._x(x), target=self._x(target), mask=mask)

    def loss(self, y, batch):
        return mse(y, batch.target, batch.mask)

    def evaluate(self, run, split):
        b = self.valid if split == "valid" else self.test
        y, _ = run(b.x, None, 0)
        return {"mse": mse(y, b.target, b.mask)[0]}


class CopyTask(_SyntheticTask):
    name = "copy"
    description = "copy memory (per-step cross-entropy); data.length = delay"
    metric = "nats"
    per_step = True
    input_size, output_size = 10, 9   # ids: blank, 8 symbols, delimiter; targets 0..8

    @staticmethod
    def defaults(cfg):
        _SyntheticTask._synthetic_defaults(cfg, module_size=16, steps=1000, eval_every=100,
                                           length=20)

    def _make(self, n, rng):
        x, y = datasets.copy_memory(n, self.cfg.data.length, rng)
        return Batch(x=self._x(x), target=y)

    def loss(self, y, batch):
        return softmax_cross_entropy(y, batch.target)

    def evaluate(self, run, split):
        b = self.valid if split == "valid" else self.test
        y, _ = run(b.x, None, 0)
        loss, _ = softmax_cross_entropy(y, b.target)
        tail = slice(-10, None)
        acc = float(np.mean(y[tail].argmax(-1) == b.target[tail]))
        return {"nats": loss, "copy_accuracy": acc,
                "baseline_nats": datasets.copy_memory_baseline(self.cfg.data.length)}


class _PerStepMSETask(_SyntheticTask):
    """A synthetic task with a target at every step, scored by MSE."""

    metric = "mse"
    input_size, output_size = 2, 1

    def loss(self, y, batch):
        return mse(y, batch.target)

    def evaluate(self, run, split):
        b = self.valid if split == "valid" else self.test
        y, _ = run(b.x, None, 0)
        return {"mse": mse(y, b.target)[0]}


class HoldTask(_PerStepMSETask):
    name = "hold"
    description = ("sample and hold, a new value every data.timescale steps (planted "
                   "timescale; MSE per step)")

    @staticmethod
    def defaults(cfg):
        _SyntheticTask._synthetic_defaults(cfg, module_size=4, steps=1500, eval_every=100,
                                           length=96)
        cfg.model.n_modules, cfg.model.periods = 3, [1, 4, 16]
        cfg.data.timescale = 24

    def _make(self, n, rng):
        x, y = datasets.hold_problem(n, self.cfg.data.length, self.cfg.data.timescale, rng)
        return Batch(x=self._x(x), target=self._x(y))


class RegimesTask(_PerStepMSETask):
    name = "regimes"
    description = ("two regimes alternating every data.timescale steps: y_t = s_t u_(t-2) "
                   "(MSE per step)")

    @staticmethod
    def defaults(cfg):
        _SyntheticTask._synthetic_defaults(cfg, module_size=4, steps=1500, eval_every=100,
                                           length=96)
        cfg.model.n_modules, cfg.model.periods = 1, [1]
        cfg.data.timescale = 16

    def _make(self, n, rng):
        x, y = datasets.regimes_problem(n, self.cfg.data.length, self.cfg.data.timescale, rng)
        return Batch(x=self._x(x), target=self._x(y))


TASKS = {t.name: t for t in (GenerationTask, VowelsTask, TextTask, AddingTask, CopyTask,
                             HoldTask, RegimesTask)}


def make_task(cfg: Config) -> Task:
    """The task named by ``cfg.task``; ConfigError for an unknown name."""
    if cfg.task not in TASKS:
        raise ConfigError(f"unknown task {cfg.task!r}; choose from {', '.join(TASKS)}")
    return TASKS[cfg.task](cfg)


def task_defaults(name: str) -> Config:
    """A Config with ``name``'s defaults applied (before a user's file and --set)."""
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    cfg = Config(task=name)
    TASKS[name].defaults(cfg)
    return cfg
