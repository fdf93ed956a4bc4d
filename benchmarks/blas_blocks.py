"""Block products inside the kernels: plain loops against BLAS, block shape by block shape.

The measurements behind the dispatch rules of ``cwrnn_np/kernels/linalg.py``. For each block
shape of the benchmark configurations (a)-(e), each way of computing it runs the same product
many times in one compiled loop; the table gives GFLOP/s (2 per multiply-add, higher is better)
and the dgemm peak (a 1024 x 1024 float64 product through NumPy) measured in the same run.

* block products ``out (B, N) += a (B, K) @ W (K, N)``: the row loop (one batch row at a
  time), the 2 x 4 register tile, and BLAS (SciPy's dgemm on the block in place);
* weight-gradient outer products ``G (K, N) += a^T (K, B) P (B, N)``: the row loop and BLAS
  taken step by step (B rows each), and the same rows queued for 256 rows and applied as one
  BLAS product (:class:`cwrnn_np.kernels.linalg.OuterQueue`).

    OPENBLAS_NUM_THREADS=1 python benchmarks/blas_blocks.py [--seconds 0.2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from numba import njit

from cwrnn_np.bench.runner import dgemm_peak
from cwrnn_np.kernels import linalg

#: (B, K, N) of the hot blocks: (a) 16 x 16 at B = 1; (b) 20 x 20 and the 12-wide input at
#: B = 32; (c) 64 x 64 at B = 64; (d) 256 x 256 and the 65-symbol input at B = 4; (e) 768 x 768
SHAPES = [(1, 16, 16), (4, 20, 20), (8, 20, 20), (32, 20, 20), (32, 12, 20), (64, 64, 64),
          (4, 65, 256), (4, 256, 256), (16, 256, 256), (4, 768, 768)]


@njit
def _rows(out, a, W, reps):
    for _ in range(reps):
        for b in range(out.shape[0]):
            linalg.add_row_product(out[b:b + 1], 0, a[b:b + 1], 0, W, 0, 0, W.shape[0],
                                   W.shape[1])


@njit
def _tile(out, a, W, reps):
    for _ in range(reps):
        linalg.add_tile_product(out, 0, a, 0, W, 0, 0, W.shape[0], W.shape[1])


@njit
def _blas(out, a, W, reps):
    for _ in range(reps):
        linalg.blas_block_product(out, 0, a, 0, W, 0, 0, W.shape[0], W.shape[1])


@njit
def _outer_rows(G, a, P, reps):
    for _ in range(reps):
        for b in range(a.shape[0]):
            linalg.add_row_outer(G, 0, 0, a[b:b + 1], 0, a.shape[1], P[b:b + 1], 0, P.shape[1])


@njit
def _outer_blas(G, a, P, reps):
    for _ in range(reps):
        linalg.blas_outer_products(G, 0, 0, a, 0, a.shape[1], P, 0, P.shape[1])


@njit
def _outer_queued(G, a, P, reps):
    one = np.zeros(1, dtype=np.int64)
    queue = linalg.new_outer_queue(one + a.shape[1], one + P.shape[1], one * 0, one * 0, a)
    for _ in range(reps):
        linalg.queue_outer(queue, 0, a, 0, P, 0, G)
    linalg.drain_all_outer(queue, G)


def rate(fn, x, y, z, flops, seconds):
    """GFLOP/s of ``fn(x, y, z, reps)``: the best of 3 timed runs of about ``seconds`` each."""
    fn(x, y, z, 1)
    reps = max(1, int(seconds * 2e9 / flops))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        fn(x, y, z, reps)
        best = min(best, (time.perf_counter() - t) / reps)
    return flops / best / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=0.2,
                        help="approximate seconds per timed run (default 0.2)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    print(f"dgemm peak: {dgemm_peak() / 1e9:.1f} GFLOP/s (float64, 1024 x 1024, NumPy)\n")
    print("| B | K | N | product: row loop | 2 x 4 tile | BLAS | outer: row loop | BLAS per step "
          "| queued, one BLAS per 256 rows |")
    print("|---|---|---|---|---|---|---|---|---|")
    for B, K, N in SHAPES:
        W, a = rng.standard_normal((K, N)), rng.standard_normal((B, K))
        out, G, P = np.zeros((B, N)), np.zeros((K, N)), rng.standard_normal((B, N))
        flops = 2.0 * B * K * N
        cells = [f"{rate(fn, out, a, W, flops, args.seconds):.1f}" for fn in (_rows, _tile, _blas)]
        cells += [f"{rate(fn, G, a, P, flops, args.seconds):.1f}"
                  for fn in (_outer_rows, _outer_blas, _outer_queued)]
        print(f"| {B} | {K} | {N} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
