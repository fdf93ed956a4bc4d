r"""Benchmark one training step (forward, MSE loss, backward) side by side.

Usage::

    python -m cwrnn_np.bench                       # all configs, 1 thread and all cores
    python -m cwrnn_np.bench --configs a --threads 1 --rounds 30
    python -m cwrnn_np.bench --compile-times       # the main job from an empty Numba cache
    python -m cwrnn_np.bench --configs d,e --breakdown   # where the char-LM step's time goes

Implementations (each only if available): the NumPy reference (``numpy``), the Numba kernels
(``numba``), and PyTorch eager CPU ports (see :mod:`cwrnn_np.bench.torch_ports`), each first
checked against the reference: for (a)-(c) two (``torch-masked``, ``torch-active``), for the
char-LM steps (d), (e) one (``torch``: active modules only, autograd, the same clipped Adam).

Configurations:

* (a) the paper's generation setting: 9 modules x 16 units, periods 1..256, L=320, B=1, D=1, O=1;
* (b) classification-sized: 5 x 20 units, periods 1..16, L=100, B=32, D=12, O=9;
* (c) large: 8 x 64 units, periods 1..128, L=200, B=64, D=64, O=64;
* (d) the design note's char-LM training step: periods [1, 4, 16] x 256 units with the paper's
  wiring, B=4, L=128, one-hot input over 65 symbols, the 1024-unit tanh readout, the softmax
  cross-entropy over 65 symbols and an Adam update (``d32``: the same in float32);
* (e) the note's baseline row: the SRN with 768 units under the same readout (``e32``: float32).

(a)-(c) time forward, MSE and backward; (d) and (e) a whole training step, optimizer included.
``--protocol`` times the note's protocol (12,000 steps of (d) and of (e)) by running 500
consecutive steps in each dtype and extrapolating.

Timing: implementations run in interleaved rounds (one step of each per round), so that load on
the shared machine hits all of them alike; the table gives each one's median and its ratio to
the numba median. Thread counts are set per run through a fresh worker process
(``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``, ``NUMBA_NUM_THREADS`` and
``torch.set_num_threads``), so every implementation gets the same count.

FLOPs count the multiply-adds of the active work only (2 FLOPs each; tanh and element-wise work
are not counted):

.. math::

    F_{\text{fwd}} = \sum_t \sum_{i \in \mathcal A_t} 2 B k_i \Big(\sum_{j: C_{ij}} k_j
        + D R_i\Big) + 2 L B O H, \qquad F_{\text{step}} = 3 F_{\text{fwd}},

because the backward pass does two products of the forward's size for each one of the forward
(B4 and B6 for W_H, B7 twice for W_I, B1 twice for W_O). :math:`\mathcal A_t` is the set of
modules active at step t.

**Efficiency** measures the distance to the machine's limit (:func:`necessary_flops`,
:func:`dgemm_peak`)::

    efficiency = (necessary FLOPs / dgemm peak) / measured time

The *necessary* work counts the multiply-adds that the exact semantics require, given that a
held state does not change: :math:`B k_i D R_i` per active step of module i (input),
:math:`B k_i k_j` per wired pair (i, j) once for each distinct version of :math:`\tilde h_j`
that an active step of i reads (recurrent), :math:`B O H` per step (output), and twice the
forward count for the backward pass; FLOPs are twice the multiply-adds. The peak is a
1024 x 1024 float64 product through NumPy, measured in the same worker process, at the same
thread count, as the times. Efficiency is comparable across machines; absolute times are not.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from .. import schedules
from ..losses import mse
from ..models.clockwork.api import BACKENDS, backward, forward
from ..params import init_params
from ..spec import ClockworkSpec

__all__ = ["CONFIGS", "make_problem", "step_flops", "necessary_flops", "dgemm_peak",
           "run_config", "format_result", "charlm_breakdown", "format_breakdown", "main"]

CONFIGS = {
    "a": dict(title="(a) generation", sizes=[16] * 9, periods=schedules.exponential(9),
              L=320, B=1, D=1, O=1),
    "b": dict(title="(b) classification", sizes=[20] * 5, periods=schedules.exponential(5),
              L=100, B=32, D=12, O=9),
    "c": dict(title="(c) large", sizes=[64] * 8, periods=schedules.exponential(8),
              L=200, B=64, D=64, O=64),
}
# the design note's char-LM step: its readout has R = 1024 tanh units between the network's
# output layer (O = R) and the 65 symbols, and the step includes the Adam update
_CHARLM = dict(L=128, B=4, D=65, O=1024, readout=65)
for _key, _title, _sizes, _periods in [("d", "(d) char-LM [1,4,16]x256", [256] * 3, [1, 4, 16]),
                                       ("e", "(e) char-LM SRN-768", [768], [1])]:
    CONFIGS[_key] = dict(title=_title, sizes=_sizes, periods=_periods, dtype="float64", **_CHARLM)
    CONFIGS[_key + "32"] = dict(title=_title + " float32", sizes=_sizes, periods=_periods,
                                dtype="float32", **_CHARLM)


def make_problem(cfg, seed=0, connectivity="clockwork"):
    """Spec, float64 params, x (L, B, D) and target (L, B, O) for a config dict."""
    spec = ClockworkSpec(cfg["D"], cfg["O"], cfg["sizes"], cfg["periods"],
                         connectivity=connectivity)
    rng = np.random.default_rng(seed)
    params = init_params(spec, rng)
    x = rng.standard_normal((cfg["L"], cfg["B"], cfg["D"]))
    target = rng.standard_normal((cfg["L"], cfg["B"], cfg["O"]))
    return spec, params, x, target


def step_flops(spec: ClockworkSpec, L: int, B: int) -> tuple[float, float]:
    """(forward FLOPs, training-step FLOPs) of the active work (see the module docstring)."""
    k = np.asarray(spec.module_sizes)
    fan = spec.C.astype(np.int64) @ k + spec.input_size * spec.R  # (n,) inputs per unit row
    per_module = 2 * B * k * fan  # (n,) FLOPs of one active step of module i
    active = spec.active(L, 0)  # (L, n)
    fwd = float((active * per_module).sum() + 2 * L * B * spec.output_size * spec.hidden_size)
    return fwd, 3 * fwd


def necessary_flops(spec: ClockworkSpec, L: int, B: int, t0: int = 0) -> tuple[float, float]:
    """(forward FLOPs, training-step FLOPs) of the work the exact semantics require (see the
    module docstring): held sources' products are counted once per version they are read in.
    Without resets, the version of :math:`\tilde h_j` entering step t is the last step before t
    at which module j fired (-1: the carried-in state)."""
    k = np.asarray(spec.module_sizes, dtype=np.int64)
    active = spec.active(L, t0)                                    # (L, n) bool
    L_idx = np.arange(L)
    # version[t, j]: the last step < t at which module j fired, or -1
    fired = np.where(active, L_idx[:, None], -1)                   # (L, n)
    last = np.maximum.accumulate(fired, axis=0)                    # (L, n) last step <= t
    version = np.vstack([np.full((1, spec.n_modules), -1), last[:-1]])   # (L, n)
    macs = 0
    for i in range(spec.n_modules):
        steps = active[:, i]
        macs += B * k[i] * spec.input_size * int(spec.R[i]) * int(steps.sum())   # input
        for j in np.flatnonzero(spec.C[i]):                                      # recurrent
            macs += B * k[i] * k[j] * np.unique(version[steps, j]).size
    macs += B * spec.output_size * spec.hidden_size * L                           # output
    fwd = 2.0 * float(macs)
    return fwd, 3 * fwd


def dgemm_peak(n: int = 1024, rounds: int = 5) -> float:
    """FLOP/s of an n x n float64 matrix product through NumPy (median of ``rounds``), at the
    thread count the process runs with."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    out = np.empty((n, n))
    np.matmul(a, b, out=out)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - t)
    return 2.0 * n ** 3 / statistics.median(times)


def _our_step(backend, spec, params, x, target):
    def run():
        y, cache = forward(params, spec, x, backend=backend)
        loss, dy = mse(y, target)
        backward(params, spec, dy, cache, backend=backend)
        return loss
    return run


def charlm_problem(cfg, seed=0):
    """(net, params, x one-hot (L, B, V), targets (L, B) int) of a char-LM config (d, e)."""
    from ..models.readout import Net
    kind = "srn" if len(cfg["sizes"]) == 1 else "cwrnn"
    spec = ClockworkSpec(cfg["D"], cfg["O"], cfg["sizes"], cfg["periods"],
                         connectivity="clockwork")
    net = Net(kind, spec, readout=cfg["readout"])
    rng = np.random.default_rng(seed)
    params = net.init(rng, dtype=np.dtype(cfg["dtype"]))
    ids = rng.integers(0, cfg["D"], size=(cfg["L"] + 1, cfg["B"]))
    x = np.eye(cfg["D"], dtype=cfg["dtype"])[ids[:-1]]             # (L, B, V) one-hot
    return net, params, x, ids[1:]


class CharLMStep:
    """One training step of the note's char-LM (configs d, e): forward, softmax cross-entropy,
    backward through the readout and the network, and an Adam update (lr 5e-4, gradients
    clipped to norm 5, as the char-LM experiment trains; ``clip_norm`` changes it for tests).
    Each call continues from the last."""

    def __init__(self, backend, net, params, x, targets, clip_norm=5.0):
        from ..losses import softmax_cross_entropy
        from ..training.optim import make_optimizer
        self.backend, self.net, self.x, self.targets = backend, net, x, targets
        self.loss_fn = softmax_cross_entropy
        self.opt = make_optimizer("adam", lr=5e-4, clip_norm=clip_norm)
        self.params, self.state = params, self.opt.init(params)
        self.masks = net.param_masks()

    def loss_and_grads(self):
        """Forward, cross-entropy and backward from the current parameters: (loss, grads)."""
        y, cache = self.net.forward(self.params, self.x, backend=self.backend)
        loss, dy = self.loss_fn(y, self.targets)
        return loss, self.net.backward(self.params, dy, cache, backend=self.backend)

    def apply(self, grads):
        """The Adam update (clipping and masks included) of the parameters by ``grads``."""
        self.params, self.state = self.opt.update(self.params, grads, self.state, self.masks,
                                                  backend=self.backend)

    def __call__(self):
        """One training step; returns the loss before the update."""
        loss, grads = self.loss_and_grads()
        self.apply(grads)
        return loss


def charlm_breakdown(key: str, rounds: int = 20) -> dict:
    """Where one char-LM training step (config d, e, d32 or e32) spends its time, numba backend.

    Times each phase of :class:`CharLMStep` on its own, in interleaved rounds, and returns
    ``{"config", "rounds", "median_ms": {phase: ms}, "flops": {phase: necessary FLOPs}}``. The
    phases: the network's forward pass (its Numba kernel plus the output layer's BLAS product),
    the readout's forward pass, the softmax cross-entropy, the readout's backward pass, the
    network's BPTT (kernel plus the output layer's two BLAS products) and the Adam update.
    """
    from ..models.readout import readout_backward, readout_forward
    cfg = CONFIGS[key]
    net, params, x, targets = charlm_problem(cfg)
    step = CharLMStep("numba", net, params, x, targets)
    core = net._core(params)
    z, core_cache = net._core_forward(core, x, None, 0, None, "numba")
    y, v = readout_forward(params["W_R"], params["b_R"], z)
    loss, dy = step.loss_fn(y, targets)
    dz, _, _ = readout_backward(params["W_R"], dy, v)
    grads = step.loss_and_grads()[1]
    phases = {
        "network forward": lambda: net._core_forward(core, x, None, 0, None, "numba"),
        "readout forward": lambda: readout_forward(params["W_R"], params["b_R"], z),
        "cross-entropy": lambda: step.loss_fn(y, targets),
        "readout backward": lambda: readout_backward(params["W_R"], dy, v),
        "network backward": lambda: net._core_backward(core, dz, core_cache, None, "numba"),
        "Adam update": lambda: step.opt.update(params, grads, step.state, step.masks,
                                               backend="numba"),
    }
    med = time_side_by_side(phases, rounds)
    L, B = cfg["L"], cfg["B"]
    fwd_net = necessary_flops(net.spec, L, B)[0]
    readout = 2.0 * L * B * net.readout * net.spec.output_size
    flops = {"network forward": fwd_net, "readout forward": readout, "cross-entropy": 0.0,
             "readout backward": 2 * readout, "network backward": 2 * fwd_net,
             "Adam update": 0.0}
    return dict(config=key, title=cfg["title"], rounds=rounds,
                median_ms={k: 1e3 * t for k, t in med.items()}, flops=flops,
                dgemm_peak_flops=dgemm_peak())


def format_breakdown(res) -> str:
    """The table :func:`charlm_breakdown` measured, with each phase's share and efficiency."""
    total = sum(res["median_ms"].values())
    peak = res["dgemm_peak_flops"]
    lines = [f"{res['title']}: where a training step's time goes (numba, {res['rounds']} "
             f"rounds; dgemm peak {peak / 1e9:.1f} GFLOP/s)",
             f"  {'phase':<18s} {'median ms':>10s} {'share':>7s} {'necessary MFLOP':>16s} "
             f"{'efficiency':>10s}"]
    for phase, ms in res["median_ms"].items():
        f = res["flops"][phase]
        eff = f"{100 * f / peak / (ms / 1e3):9.1f}%" if f else f"{'-':>10s}"
        lines.append(f"  {phase:<18s} {ms:10.2f} {100 * ms / total:6.1f}% {f / 1e6:16.1f} {eff}")
    lines.append(f"  {'sum':<18s} {total:10.2f}")
    return "\n".join(lines)


def charlm_flops(net, L: int, B: int) -> tuple[float, float]:
    """(active-work FLOPs, necessary FLOPs) of one char-LM training step: the network's, plus
    the readout layer (B R O per step, twice again backward)."""
    readout = 3 * 2.0 * L * B * net.readout * net.spec.output_size
    return (step_flops(net.spec, L, B)[1] + readout,
            necessary_flops(net.spec, L, B)[1] + readout)


def torch_available() -> bool:
    """Whether PyTorch imports (the optional ``bench`` extra)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def charlm_implementations(net, params, x, targets, include=None):
    """name -> one char-LM training step (:class:`CharLMStep` on the numba and numpy backends,
    and the validated PyTorch port ``"torch"`` when torch imports), limited to ``include``."""
    impls = {name: CharLMStep(name, net, params, x, targets) for name in ("numba", "numpy")
             if name in BACKENDS and (include is None or name in include)}
    if torch_available() and (include is None or "torch" in include):
        from .torch_ports import TorchCharLMStep, check_charlm_against_reference
        check_charlm_against_reference(net, params, x, targets)
        impls["torch"] = TorchCharLMStep(net, params, x, targets)
    return impls


def implementations(spec, params, x, target, include=None):
    """name -> zero-argument callable running one training step (validated where it is a port)."""
    impls = {}
    for name in ("numba", "numpy"):
        if name in BACKENDS:
            impls[name] = _our_step(name, spec, params, x, target)
    if torch_available():
        from .torch_ports import TORCH_VARIANTS, TorchStep, check_against_reference
        for variant in TORCH_VARIANTS:
            check_against_reference(spec, params, x, target, variant)
            impls[variant] = TorchStep(spec, params, x, target, variant)
    if include:
        impls = {k: v for k, v in impls.items() if k in include}
    return impls


def time_side_by_side(impls, rounds, warmup=2):
    """Median seconds per implementation over interleaved rounds."""
    for fn in impls.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in impls}
    for _ in range(rounds):
        for name, fn in impls.items():
            t = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - t)
    return {name: statistics.median(s) for name, s in samples.items()}


def _auto_rounds(impls, budget):
    t = time.perf_counter()
    for fn in impls.values():
        fn()
    once = time.perf_counter() - t
    return int(min(50, max(5, budget / max(once, 1e-9))))


def run_config(key, rounds=None, budget=20.0, include=None, progress=True):
    """Time one config; return a JSON-friendly dict of results."""
    cfg = CONFIGS[key]
    if "readout" in cfg:
        net, params, x, targets = charlm_problem(cfg)
        impls = charlm_implementations(net, params, x, targets, include)
        step, necessary = charlm_flops(net, cfg["L"], cfg["B"])
        fwd = step / 3
    else:
        spec, params, x, target = make_problem(cfg)
        impls = implementations(spec, params, x, target, include)
        fwd, step = step_flops(spec, cfg["L"], cfg["B"])
        _, necessary = necessary_flops(spec, cfg["L"], cfg["B"])
    r = rounds or _auto_rounds(impls, budget)
    if progress:
        print(f"  timing {cfg['title']}: {', '.join(impls)} x {r} rounds ...", file=sys.stderr,
              flush=True)
    med = time_side_by_side(impls, r)
    peak = dgemm_peak()
    out = dict(config=key, title=cfg["title"], rounds=r, median_s=med, flops_step=step,
               flops_fwd=fwd, necessary_flops_step=necessary, dgemm_peak_flops=peak,
               efficiency={name: necessary / peak / t for name, t in med.items()})
    # CW-RNN against an SRN of the same H (one module, period 1), on the numba backend
    if "readout" not in cfg and "numba" in BACKENDS and (include is None or "numba" in include):
        srn_cfg = dict(cfg, sizes=[sum(cfg["sizes"])], periods=[1])
        s_spec, s_params, s_x, s_target = make_problem(srn_cfg)
        both = {"cwrnn": impls["numba"],
                "srn": _our_step("numba", s_spec, s_params, s_x, s_target)}
        both["srn"]()
        sm = time_side_by_side(both, r)
        out["srn"] = dict(median_s=sm, flops_step=step_flops(s_spec, cfg["L"], cfg["B"])[1])
    return out


def format_result(res, threads):
    cfg = CONFIGS[res["config"]]
    shape = (f"L={cfg['L']} B={cfg['B']} D={cfg['D']} O={cfg['O']}" if "readout" not in cfg else
             f"L={cfg['L']} B={cfg['B']}, {cfg['D']} symbols, a {cfg['O']}-unit tanh readout, "
             f"Adam, {cfg['dtype']}")
    lines = [f"{res['title']}: {len(cfg['sizes'])} modules x {cfg['sizes'][0]} units, periods "
             f"{cfg['periods'][0]}..{cfg['periods'][-1]}, {shape}; threads={threads}; "
             f"{res['rounds']} rounds",
             f"  active work per training step: {res['flops_step'] / 1e6:.2f} MFLOP; necessary "
             f"work: {res['necessary_flops_step'] / 1e6:.2f} MFLOP; dgemm peak "
             f"{res['dgemm_peak_flops'] / 1e9:.1f} GFLOP/s",
             f"  {'implementation':<14s} {'median ms':>10s} {'GFLOP/s':>8s} {'efficiency':>10s} "
             f"{'time / numba':>13s}"]
    med = res["median_s"]
    ref = med.get("numba")
    for name, s in sorted(med.items(), key=lambda kv: kv[1]):
        ratio = f"{s / ref:12.2f}x" if ref else "           -"
        lines.append(f"  {name:<14s} {s * 1e3:10.3f} {res['flops_step'] / s / 1e9:8.2f} "
                     f"{100 * res['efficiency'][name]:9.2f}% {ratio}")
    if ref:
        for name in ("torch-masked", "torch-active", "torch", "numpy"):
            if name in med:
                lines.append(f"  numba speed-up over {name}: {med[name] / ref:.1f}x")
    if "srn" in res:
        sm = res["srn"]["median_s"]
        g = len(cfg["sizes"])
        lines.append(
            f"  CW-RNN vs SRN at equal H={sum(cfg['sizes'])} (numba): measured speed-up "
            f"{sm['srn'] / sm['cwrnn']:.2f}x, FLOP ratio "
            f"{res['srn']['flops_step'] / res['flops_step']:.2f}x "
            f"(paper's lower bound g/4 = {g / 4:.2f})")
    return "\n".join(lines)


#: the design note's char-LM protocol: 12,000 training steps
PROTOCOL_STEPS = 12_000


def protocol_times(steps: int = 500, keys=("d32", "d", "e32", "e")) -> list[dict]:
    """Time ``steps`` consecutive training steps of each char-LM config on the numba backend
    (wall and CPU time, after two warm-up steps) and extrapolate to :data:`PROTOCOL_STEPS`."""
    out = []
    for key in keys:
        cfg = CONFIGS[key]
        step = CharLMStep("numba", *charlm_problem(cfg))
        step()
        step()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        out.append(dict(config=key, title=cfg["title"], steps=steps, wall_s=wall, cpu_s=cpu,
                        protocol_cpu_minutes=cpu / steps * PROTOCOL_STEPS / 60))
    return out


def format_protocol(rows, threads) -> str:
    lines = [f"the note's protocol ({PROTOCOL_STEPS} steps), extrapolated from "
             f"{rows[0]['steps']} steps on the numba backend; threads={threads}",
             f"  {'config':<32s} {'ms/step':>8s} {'CPU min for the protocol':>25s}"]
    for r in rows:
        lines.append(f"  {r['title']:<32s} {1e3 * r['cpu_s'] / r['steps']:8.1f} "
                     f"{r['protocol_cpu_minutes']:25.1f}")
    return "\n".join(lines)


def compile_times(python=sys.executable) -> list[dict]:
    """The main job, ``cwrnn train generation``, run twice in fresh processes sharing a new,
    empty Numba cache: first cold (every kernel compiled), then cached. For each: the seconds
    its status line reports for preparing the kernels, and the wall time of the whole job."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, "numba-cache"))
        for label in ("cold (empty cache)", "cached"):
            t = time.perf_counter()
            res = subprocess.run([python, "-m", "cwrnn_np", "train", "generation",
                                  "--no-progress", "--runs-dir", os.path.join(tmp, "runs")],
                                 env=env, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - t
            ready = [line for line in (res.stdout + res.stderr).splitlines()
                     if line.startswith("numba kernels ready in")]
            kernels = float(ready[0].split()[4]) if ready else float("nan")
            out.append(dict(label=label, kernels_s=kernels, job_s=wall))
    return out


def _worker(args):
    from ..threads import set_threads
    set_threads(args.threads)          # as --threads does for training: the kernels' BLAS at 1
    import_torch_threads(args.threads)
    if args.protocol:
        print(json.dumps(protocol_times(args.protocol_steps)))
        return
    if args.breakdown:
        print(json.dumps([charlm_breakdown(k) for k in args.configs if "readout" in CONFIGS[k]]))
        return
    results = [run_config(k, args.rounds, args.budget, args.include) for k in args.configs]
    print(json.dumps(results))


def vector_isa() -> str:
    """The widest x86 vector instruction set the processor reports (the kernels' speed and the
    dgemm peak depend on it), from /proc/cpuinfo; "unknown" elsewhere."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh
                          if line.startswith("flags")), [])
    except OSError:
        return "vector ISA unknown"
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_2", "SSE4.2")):
        if flag in flags:
            return name
    return "vector ISA unknown"


def _run_worker(n, worker_args):
    """Run ``python -m cwrnn_np.bench --_worker`` at n threads (Numba, every BLAS, PyTorch) in a
    fresh process; return the JSON it prints last."""
    env = dict(os.environ, OMP_NUM_THREADS=str(n), OPENBLAS_NUM_THREADS=str(n),
               MKL_NUM_THREADS=str(n), NUMBA_NUM_THREADS=str(n))
    cmd = [sys.executable, "-m", "cwrnn_np.bench", "--_worker", "--threads", str(n)]
    res = subprocess.run(cmd + worker_args, env=env, stdout=subprocess.PIPE, text=True,
                         check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def import_torch_threads(n):
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cwrnn_np.bench", description=__doc__.split(
        "\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="a,b,c",
                        help="comma-separated config keys from a, b, c, d, d32, e, e32 "
                             "(default a,b,c)")
    parser.add_argument("--threads", default=f"1,{os.cpu_count()}",
                        help="comma-separated thread counts (default 1 and all cores)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="timed rounds (default: fit a time budget, 5..50)")
    parser.add_argument("--budget", type=float, default=20.0,
                        help="seconds per config used to choose the rounds (default 20)")
    parser.add_argument("--include", default=None,
                        help="comma-separated implementations to time (default all available)")
    parser.add_argument("--protocol", action="store_true",
                        help="also time the note's char-LM protocol (configs d, e) at one "
                             "thread, extrapolated from --protocol-steps steps")
    parser.add_argument("--protocol-steps", type=int, default=500,
                        help="steps timed for --protocol (default 500)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the phases of the char-LM configs' step (d, e, d32, "
                             "e32 among --configs) at each thread count")
    parser.add_argument("--compile-times", action="store_true",
                        help="also time the main job (cwrnn train generation) from an empty "
                             "Numba cache and from the cache it filled")
    parser.add_argument("--json", default=None,
                        help="also write the command, the machine and the raw results to this "
                             "file")
    parser.add_argument("--_worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    for c in args.configs:
        if c not in CONFIGS:
            parser.error(f"--configs: unknown config {c!r}; choose from {sorted(CONFIGS)}")
    if args.include:
        args.include = [s.strip() for s in args.include.split(",")]
    if args.protocol_steps < 1:
        parser.error(f"--protocol-steps must be >= 1, got {args.protocol_steps}")
    if args._worker:
        args.threads = int(args.threads)
        return _worker(args)
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads must be comma-separated integers, got {args.threads!r}")
    if any(t < 1 for t in threads):
        parser.error(f"--threads must be >= 1, got {args.threads!r}")
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cores {os.cpu_count()}")
    all_results = {}
    common = ["--configs", ",".join(args.configs), "--budget", str(args.budget)]
    if args.rounds:
        common += ["--rounds", str(args.rounds)]
    if args.include:
        common += ["--include", ",".join(args.include)]
    for n in threads:
        all_results[n] = _run_worker(n, common)
        for r in all_results[n]:
            print()
            print(format_result(r, n))
    breakdowns = {}
    if args.breakdown:
        for n in threads:
            breakdowns[n] = _run_worker(n, ["--configs", ",".join(args.configs), "--breakdown"])
            for r in breakdowns[n]:
                print()
                print(format_breakdown(r) + f"; threads={n}")
    protocol = None
    if args.protocol:
        protocol = _run_worker(1, ["--protocol", "--protocol-steps", str(args.protocol_steps)])
        print()
        print(format_protocol(protocol, 1))
    compiles = None
    if args.compile_times:
        compiles = compile_times()
        print("\nthe main job (cwrnn train generation), fresh process each, one new Numba cache")
        for c in compiles:
            print(f"  {c['label']:<20s} kernels ready in {c['kernels_s']:6.2f} s   whole job "
                  f"{c['job_s']:6.2f} s")
    if args.json:
        from ..experiments.paper import machine
        record = {"command": "python -m cwrnn_np.bench " + " ".join(argv or sys.argv[1:]),
                  "machine": f"{machine()}; {vector_isa()}", "threads": all_results}
        if protocol is not None:
            record["protocol"] = protocol
        if breakdowns:
            record["breakdown"] = breakdowns
        if compiles is not None:
            record["compile_times"] = compiles
        with open(args.json, "w") as fh:
            json.dump(record, fh, indent=1)


if __name__ == "__main__":
    main()
