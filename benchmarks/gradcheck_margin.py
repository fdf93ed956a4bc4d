"""How far below the 1e-6 audit tolerance do the finite-difference checks sit?

Draws problems with the test suite's Hypothesis strategy (tests/strategies.py), runs the
element-wise gradcheck on each, and prints the distribution of the relative errors, the entries
that fall below the floor tau, and the worst entries.

    python benchmarks/gradcheck_margin.py --examples 300 [--backend numpy]
"""
import argparse
import pathlib
import sys
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import cwrnn_np as cw  # noqa: E402
from strategies import problems  # noqa: E402

gc_module = sys.modules["cwrnn_np.gradcheck"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--examples", type=int, default=300)
    ap.add_argument("--backend", default="numpy")
    args = ap.parse_args()
    rows = []
    original = gc_module.relative_error

    def spy(a, n, floor):
        rows.append((float(a), float(n), float(floor)))
        return original(a, n, floor)

    gc_module.relative_error = spy

    @settings(max_examples=args.examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(problems())
    def run(p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cw.gradcheck(p.params, p.spec, p.x, **p.kwargs(), backend=args.backend,
                         rng=np.random.default_rng(p.seed), mode="elementwise")

    run()
    a = np.array(rows)
    err = np.abs(a[:, 0] - a[:, 1])
    mag = np.maximum(np.abs(a[:, 0]), np.abs(a[:, 1]))
    rel = err / np.maximum(mag, a[:, 2])
    below = mag < a[:, 2]
    print(f"entries audited: {len(a)} over {args.examples} problems ({args.backend})")
    print(f"relative error: median {np.median(rel):.2e}, 99.9% {np.quantile(rel, 0.999):.2e}, "
          f"max {rel.max():.2e} (tolerance 1e-6)")
    print(f"entries below the floor: {below.sum()}, of which exactly zero both ways: "
          f"{((a[:, 0] == 0) & (a[:, 1] == 0) & below).sum()}")
    print("worst entries (analytic, numeric, relative error):")
    for j in np.argsort(rel)[-3:][::-1]:
        print(f"  {a[j, 0]: .12e} {a[j, 1]: .12e} {rel[j]:.2e}")


if __name__ == "__main__":
    main()
