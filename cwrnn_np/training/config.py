r"""Run configuration: commented dataclasses, loadable from TOML and overridable key by key.

A run is described by one :class:`Config` with four sections, ``model``, ``optim``, ``train``
and ``data``. Every field has a default, so ``Config()`` is a valid run; a task
(:mod:`cwrnn_np.training.tasks`) adjusts the defaults that suit it before the user's TOML file and
``--set`` overrides are applied, in that order.

TOML layout (every key optional)::

    task = "generation"
    [model]
    n_modules = 9
    module_size = 4
    periods = "exponential"       # or [1, 4, 16, 4, 1]
    connectivity = "clockwork"
    [optim]
    name = "nesterov"
    lr = 3e-4
    [train]
    steps = 2000
    [data]
    source = "embedded"

``--set model.periods=symmetric`` or ``--set model.periods=[1,4,16,4,1]``: the value is parsed as
a TOML value when it is one (numbers, booleans, arrays), otherwise taken as a string, then checked
against the field's type. Errors name the key and the bad value.
"""
from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from pathlib import Path

__all__ = ["ModelConfig", "OptimConfig", "TrainConfig", "DataConfig", "Config", "ConfigError",
           "load_config", "apply_overrides", "config_to_dict", "config_from_dict"]


class ConfigError(ValueError):
    """A bad configuration key, value or file; the message names which."""


@dataclasses.dataclass
class ModelConfig:
    """The network (:class:`cwrnn_np.ClockworkSpec` fields, in config form)."""

    # "cwrnn" (Clockwork RNN), "srn" (one module, period 1) or "lstm" (the paper's baseline).
    kind: str = "cwrnn"
    # Hidden units H of an "srn" or "lstm" (default: n_modules * module_size).
    hidden_size: int | None = None
    # LSTM only: peephole connections, and the forget-gate bias at init (the paper used 5).
    peepholes: bool = True
    forget_bias: float = 5.0
    # Number of modules n and units per module k (every module the same size) ...
    n_modules: int = 9
    module_size: int = 4
    # ... or an explicit list of module sizes, which overrides both when given.
    module_sizes: list | None = None
    # A schedule name from cwrnn_np.schedules ("exponential", "fibonacci", "symmetric",
    # "linear", "random") applied to n_modules, or an explicit list of integer periods.
    periods: str | list = "exponential"
    # Base of "exponential" and of "symmetric" (ascending half 1, b, b^2, ...).
    period_base: float = 2
    # Module phases (default all zero).
    phases: list | None = None
    # A preset from cwrnn_np.masks.CONNECTIVITY_PRESETS, or an n x n list of booleans.
    connectivity: str | list = "clockwork"
    # Input routing: "all", "fastest" or a list of n booleans.
    input_modules: str | list = "all"
    # Learn the initial/reset state h_0.
    learn_h0: bool = False
    # Multiplies the initial weights' standard deviation (cwrnn_np.init_params).
    init_scale: float = 1.0
    # "float64" or "float32".
    dtype: str = "float64"
    # "numba" (compiled kernels) or "numpy" (readable reference).
    backend: str = "numba"
    # Readout: a tanh layer of this many units between the network's output layer and the
    # outputs (0: none). The design note's char-LM used 1024 (cwrnn_np.models.readout).
    readout_size: int = 0
    # Clock start: the offset t0 of the first step of every sequence. 0 is the paper authors'
    # convention (every module fires at the first step); 1 is what the design note's code did.
    clock_start: int = 0
    # The design note's deeper variants of a "cwrnn" (docs/variants.md):
    #   "clockwork"        the ordinary CW-RNN (default);
    #   "select"           every module becomes group_size same-clock copies, softly selected;
    #   "learned-static"   learned period distributions, mu and sigma as parameters;
    #   "learned-emitted"  the network emits mu and sigma from its state at every step.
    variant: str = "clockwork"
    # "select": modules per group (copies of each module of the schedule) ...
    group_size: int = 2
    # ... or explicit groups of the schedule's own modules, e.g. [[0, 1]] with periods
    # [1, 1, 4]: modules 0 and 1 are softly selected, module 2 is an ordinary module. Each group
    # must share one period and phase. Overrides group_size when given.
    groups: list | None = None
    # Temperature tau of the selection softmax ("select") or the factor on every sigma
    # ("learned-*"), at the start of training ...
    temperature: float = 1.0
    # ... annealed geometrically to this value by the last step (None: constant). A small end
    # value hardens the selection, or the clock (then `cwrnn harden` snaps it to a CW-RNN).
    temperature_end: float | None = None
    # "learned-*": candidate periods (default: powers of two up to twice the largest period)
    # and the initial sigma (log-period units); the schedule's periods are the initial modes.
    candidate_periods: list | None = None
    sigma_init: float = 0.5


@dataclasses.dataclass
class OptimConfig:
    """The optimizer (cwrnn_np.training.optim)."""

    # "sgd", "nesterov" (the paper's choice), "adam" or "rmsprop".
    name: str = "nesterov"
    lr: float = 3e-4
    # Momentum for "sgd"/"nesterov".
    momentum: float = 0.95
    # Adam's moment decays and RMSProp's decay.
    beta1: float = 0.9
    beta2: float = 0.999
    decay: float = 0.9
    eps: float = 1e-8
    # Clip the global gradient norm / each gradient entry (None: off). Done in the optimizer.
    clip_norm: float | None = None
    clip_value: float | None = None


@dataclasses.dataclass
class TrainConfig:
    """The training loop (cwrnn_np.training.train)."""

    # Optimizer updates in all (one per minibatch chunk).
    steps: int = 2000
    # Minibatch size (sequences per update) where the task has several sequences.
    batch_size: int = 32
    # Truncated BPTT: chunk length in steps (0: whole sequences, full BPTT).
    chunk_length: int = 0
    # Evaluate on the validation split every this many steps (0: only at the end).
    eval_every: int = 100
    # Early stopping: stop after this many evaluations without improvement (0: never).
    patience: int = 0
    # One seed makes a run fully deterministic (initialisation, batches, everything).
    seed: int = 0
    # Dynamic forgetting: "off", "piecewise" or "geometric" (cwrnn_np.training.train.ForgettingSchedule).
    forgetting: str = "off"
    # "piecewise": reset period F (steps) per stage; the stages split training evenly.
    # The design note's schedule: 3 -> 10 -> 100 -> 1000.
    forgetting_periods: list = dataclasses.field(default_factory=lambda: [3, 10, 100, 1000])
    # "geometric": F grows from forgetting_start to forgetting_end over training.
    forgetting_start: int = 3
    forgetting_end: int = 1000
    # Write a checkpoint every this many steps (0: only at the end).
    checkpoint_every: int = 500
    # Parent folder of run folders.
    runs_dir: str = "runs"
    # Stop after this many seconds of training (0: no limit). A wall-clock budget makes the
    # number of steps depend on the machine's speed: for budgeted experiments only.
    max_seconds: float = 0.0
    # What max_seconds measures: "wall" (elapsed time) or "cpu" (this process's CPU time,
    # time.process_time). "cpu" keeps budgets fair when runs share a busy machine.
    budget_clock: str = "wall"
    # Show a progress bar.
    progress: bool = True


@dataclasses.dataclass
class DataConfig:
    """Task data; each task reads the fields it needs (see ``cwrnn list``)."""

    # generation: "embedded" (synthetic music-like clips), "eeg" or "membrane" (matplotlib).
    source: str = "embedded"
    # generation: which clip to fit (the paper fits one network per sequence).
    clip: int = 0
    # Sequence length (generation clips, synthetic tasks, text chunks).
    length: int = 320
    # text: a UTF-8 file; empty means the built-in standard-library corpus.
    path: str = ""
    # vowels: folder with the .ts files (empty: look in installed sktime/aeon).
    data_dir: str = ""
    # Fraction of the training set held out for validation (vowels).
    valid_fraction: float = 0.2
    # Synthetic tasks: training set is drawn fresh; this many validation sequences.
    n_valid: int = 256
    # hold: a new value every this many steps (the planted timescale); regimes: steps per
    # regime.
    timescale: int = 24


@dataclasses.dataclass
class Config:
    """A whole run: the task name and its four sections."""

    task: str = "generation"
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)


SECTIONS = {"model": ModelConfig, "optim": OptimConfig, "train": TrainConfig, "data": DataConfig}


def _members(annotation) -> tuple:
    """The types a field annotation admits: the members of a union, or the type itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _type_ok(value, annotation) -> bool:
    """Whether ``value`` fits a field annotation (str, int, float, bool, list, None unions)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is list or typing.get_origin(annotation) is list:
        return isinstance(value, list)
    if annotation is str:
        return isinstance(value, str)
    return True


def _type_name(annotation) -> str:
    """An annotation as it is written in the dataclass, e.g. ``int | None``."""
    return " | ".join("None" if a is type(None) else getattr(a, "__name__", str(a))
                      for a in _members(annotation))


def _set_field(section_obj, section: str, key: str, value):
    fields = {f.name: f for f in dataclasses.fields(section_obj)}
    if key not in fields:
        raise ConfigError(f"unknown key {section}.{key}; valid keys: "
                          f"{', '.join(f'{section}.{k}' for k in fields)}")
    # the annotations are postponed strings (PEP 563); get_type_hints resolves them to types
    ann = typing.get_type_hints(type(section_obj))[key]
    if not _type_ok(value, ann):
        raise ConfigError(f"{section}.{key} must be of type {_type_name(ann)}, "
                          f"got {value!r} ({type(value).__name__})")
    if float in _members(ann) and int not in _members(ann) and isinstance(value, int) \
            and not isinstance(value, bool):
        value = float(value)  # lr = 1 in TOML is an int; store the float it means
    setattr(section_obj, key, value)


def config_from_dict(d: dict, base: Config | None = None) -> Config:
    """Apply a nested dict (as read from TOML or JSON) onto ``base`` (default ``Config()``)."""
    cfg = base if base is not None else Config()
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a table/dict, got {type(d).__name__}")
    for key, value in d.items():
        if key == "task":
            if not isinstance(value, str):
                raise ConfigError(f"task must be a string, got {value!r}")
            cfg.task = value
        elif key in SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table, got {value!r}")
            for k, v in value.items():
                _set_field(getattr(cfg, key), key, k, v)
        else:
            raise ConfigError(f"unknown config section {key!r}; valid: task, "
                              f"{', '.join(SECTIONS)}")
    return cfg


def config_to_dict(cfg: Config) -> dict:
    """A JSON-friendly nested dict of ``cfg``."""
    return dataclasses.asdict(cfg)


def load_config(path: str | Path, base: Config | None = None) -> Config:
    """Read a TOML file onto ``base``; missing or malformed files raise ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        with path.open("rb") as fh:
            d = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return config_from_dict(d, base)


def _parse_value(text: str):
    """A TOML value if ``text`` is one (number, bool, array, quoted string), else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if text.lower() in ("none", "null"):
        return None
    return text


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``key=value`` strings such as ``model.connectivity=full`` to ``cfg``."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        value = _parse_value(text.strip())
        if key == "task":
            cfg.task = str(value)
            continue
        if "." not in key:
            raise ConfigError(f"--set key must look like section.key (e.g. model.periods), "
                              f"got {key!r}")
        section, field = key.split(".", 1)
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section {section!r} in --set {item!r}; valid: "
                              f"{', '.join(SECTIONS)}")
        _set_field(getattr(cfg, section), section, field, value)
    return cfg


def dumps(cfg: Config) -> str:
    """The config as indented JSON (what a run folder stores)."""
    return json.dumps(config_to_dict(cfg), indent=1)
