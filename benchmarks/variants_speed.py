"""Speed of the design note's soft variants against the CW-RNN they generalise.

One forward + backward call pair per sequence, for each model and backend, timed in interleaved
rounds (every model once per round, so a slow spell of the shared machine hits all alike);
prints the median per model, the Numba speed-up over the NumPy reference, and each model's cost
relative to the hard-clock CW-RNN on Numba. Results go into docs/performance.md.

    python benchmarks/variants_speed.py [--rounds 15] [--L 128] [--B 16]

Set OMP_NUM_THREADS=1 (and the other BLAS variables) for one-thread numbers.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import cwrnn_np as cw
from cwrnn_np.models.learned_periods import (LearnedPeriodSpec, backward_periods, forward_periods,
                                      init_period_params)
from cwrnn_np.models.selection import backward_select, forward_select, group_modules, init_select_params


def models(D, k, periods):
    """name -> (params, forward, backward) for the CW-RNN and its soft variants."""
    base = cw.ClockworkSpec(D, D, [k] * len(periods), periods)
    rng = np.random.default_rng(0)
    out = {"cw-rnn (hard clock)": (cw.init_params(base, rng), base, cw.forward, cw.backward)}
    sel = group_modules(base, 2)
    out["soft selection, groups of 2"] = (init_select_params(sel, rng), sel, forward_select,
                                          backward_select)
    for form in ("static", "emitted"):
        lp = LearnedPeriodSpec(base, None, form, 0.5)
        out[f"learned periods, {form}"] = (init_period_params(lp, rng), lp, forward_periods,
                                           backward_periods)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--L", type=int, default=128)
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--D", type=int, default=8)
    ap.add_argument("--k", type=int, default=32, help="units per module")
    args = ap.parse_args(argv)
    periods = [1, 2, 4, 8, 16]
    ms = models(args.D, args.k, periods)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((args.L, args.B, args.D))
    dy = rng.standard_normal((args.L, args.B, args.D))
    jobs = [(name, b) for name in ms for b in ("numba", "numpy")]

    def once(name, backend):
        params, spec, fwd, bwd = ms[name]
        t = time.perf_counter()
        _, cache = fwd(params, spec, x, backend=backend)
        bwd(params, spec, dy, cache, backend=backend)
        return time.perf_counter() - t

    for job in jobs:      # compile and warm up
        once(*job)
    samples = {job: [] for job in jobs}
    for _ in range(args.rounds):
        for job in jobs:
            samples[job].append(once(*job))
    med = {job: statistics.median(v) for job, v in samples.items()}
    ref = med[("cw-rnn (hard clock)", "numba")]
    print(f"L={args.L} B={args.B} D={args.D}, {len(periods)} modules x {args.k} units, "
          f"periods {periods}; median of {args.rounds} interleaved rounds, forward + backward")
    print(f"{'model':<30s} {'numba ms':>9s} {'numpy ms':>9s} {'numpy/numba':>12s} "
          f"{'vs CW-RNN numba':>16s}")
    for name in ms:
        a, b = med[(name, "numba")], med[(name, "numpy")]
        print(f"{name:<30s} {1e3 * a:9.2f} {1e3 * b:9.2f} {b / a:11.1f}x {a / ref:15.2f}x")


if __name__ == "__main__":
    main()
