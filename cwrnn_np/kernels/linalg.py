r"""Small dense linear algebra for the kernels: block products, outer products, dot products.

Every function adds into a slice of an output buffer, reading blocks of the operands by offset,
so the family kernels can compute only the blocks that the wiring and the clock require.

Where BLAS wins, a product goes to BLAS: SciPy's ``dgemm`` / ``sgemm`` (``scipy.linalg.cython_blas``,
the library behind Numba's own ``np.dot``), called on the blocks in place through their leading
dimensions, so no block is copied. Where the block is too thin for BLAS, plain loops run
instead; their innermost loop runs from index 0 over contiguous memory, so that LLVM emits SIMD
code without reassociating any sum (fastmath stays off). Measured block shape by block shape
(``docs/performance.md``, "BLAS inside the kernels"):

* **block products** ``out += a @ W``: one batch row (B = 1) a row loop; 2 <= B < 8 a
  2 x 4 register tile (two batch rows against four rows of W; BLAS packs the whole block for
  so few rows and runs at half its speed); B >= 8 BLAS.
* **outer products** ``G += a^T P`` (weight gradients): one batch row a row loop, otherwise
  BLAS; the hot ones are not taken step by step at all when B < 32: :class:`OuterQueue`
  collects their rows over many steps and applies them as one BLAS product.

Shape letters: B batch rows, K the reduced dimension, N the output columns.
"""
from __future__ import annotations

from typing import NamedTuple

import llvmlite.binding as llvm
import numpy as np
from numba import config as numba_config
from numba import njit, types
from numba.core import cgutils
from numba.extending import get_cython_function_address, intrinsic

from .config import HELPER_OPTIONS, JIT_OPTIONS

__all__ = ["add_row_product", "add_tile_product", "add_block_product", "blas_block_product",
           "add_row_outer", "blas_outer_products", "add_outer_products", "add_block_dots",
           "OuterQueue", "new_outer_queue", "queue_outer", "drain_outer", "drain_all_outer",
           "BLAS_MIN_ROWS", "QUEUE_ROWS", "QUEUE_DIRECT_ROWS"]

#: Block products with at least this many batch rows go to BLAS (measured: below it the
#: register tile is up to twice as fast, above it BLAS is 1.1-2x faster).
BLAS_MIN_ROWS = 8

#: Rows an :class:`OuterQueue` collects per slot before it applies them as one BLAS product.
QUEUE_ROWS = 256

#: A step with at least this many batch rows is applied at once, not queued (measured: from
#: B = 32 one BLAS product per step is as fast or faster than copying the rows first).
QUEUE_DIRECT_ROWS = 32


# ----- BLAS: SciPy's Fortran gemm, called on blocks in place -----------------------------------
#
# Fortran BLAS takes every argument by reference and reads matrices column-major. A row-major
# block X (r x c, row stride ld) is, to Fortran, the column-major matrix X^T (c x r) with leading
# dimension ld; so the row-major product C = A B is computed as C^T = B^T A^T. The two routines
# are registered under fixed symbol names, so kernels that call them can still be cached on
# disk (a ctypes function pointer would bake this process's address into the machine code).
llvm.add_symbol("cwrnn_np_dgemm", get_cython_function_address("scipy.linalg.cython_blas", "dgemm"))
llvm.add_symbol("cwrnn_np_sgemm", get_cython_function_address("scipy.linalg.cython_blas", "sgemm"))
_GEMM_SIGNATURE = types.void(*([types.voidptr] * 13))
_dgemm = types.ExternalFunction("cwrnn_np_dgemm", _GEMM_SIGNATURE)
_sgemm = types.ExternalFunction("cwrnn_np_sgemm", _GEMM_SIGNATURE)
_NO_TRANSPOSE = np.uint8(ord("N"))
_TRANSPOSE = np.uint8(ord("T"))


@intrinsic
def _by_ref(typingctx, value):
    """A pointer to a copy of ``value`` on the stack (Fortran passes arguments by reference)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(cgutils.alloca_once_value(builder, args[0]), cgutils.voidptr_t)
    return types.voidptr(value), codegen


@intrinsic
def _address(typingctx, array, index):
    """A pointer to element ``index`` of ``array`` counted in the flat, C-ordered buffer."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.bitcast(builder.gep(data, [args[1]]), cgutils.voidptr_t)
    return types.voidptr(array, types.intp), codegen


@njit(**HELPER_OPTIONS)
def _gemm(transpose_b, m, n, k, A, ia, B, ib, C, ic):
    """Fortran ``C (m x n) += A (m x k) op(B)`` with op(B) = B (k x n) or B^T, each matrix given
    by an array and a flat offset, its leading dimension the array's row length."""
    one = C.dtype.type(1.0)
    op_b = _TRANSPOSE if transpose_b else _NO_TRANSPOSE
    if C.itemsize == 8:
        _dgemm(_by_ref(_NO_TRANSPOSE), _by_ref(op_b), _by_ref(np.int32(m)), _by_ref(np.int32(n)),
               _by_ref(np.int32(k)), _by_ref(one), _address(A, ia), _by_ref(np.int32(A.shape[1])),
               _address(B, ib), _by_ref(np.int32(B.shape[1])), _by_ref(one), _address(C, ic),
               _by_ref(np.int32(C.shape[1])))
    else:
        _sgemm(_by_ref(_NO_TRANSPOSE), _by_ref(op_b), _by_ref(np.int32(m)), _by_ref(np.int32(n)),
               _by_ref(np.int32(k)), _by_ref(one), _address(A, ia), _by_ref(np.int32(A.shape[1])),
               _address(B, ib), _by_ref(np.int32(B.shape[1])), _by_ref(one), _address(C, ic),
               _by_ref(np.int32(C.shape[1])))


@njit(**HELPER_OPTIONS)
def blas_block_product(out, o0, a, a0, W, w0, v0, K, N):
    r"""``out[b, o0:o0+N] += a[b, a0:a0+K] @ W[w0:w0+K, v0:v0+N]`` for every row b, by BLAS.

    To Fortran: ``out^T (N x B) += W_block^T (N x K) a_block^T (K x B)``. ``out``, ``a`` and
    ``W`` are C-contiguous 2-D arrays of one dtype.
    """
    _gemm(False, N, out.shape[0], K, W, w0 * W.shape[1] + v0, a, a0, out, o0)


@njit(**HELPER_OPTIONS)
def blas_outer_products(G, g0, gc, a, a0, K, P, p0, N):
    r"""``G[g0+u, gc:gc+N] += sum_b a[b, a0+u] * P[b, p0:p0+N]`` for u in ``0..K-1``, by BLAS.

    To Fortran: ``G_block^T (N x K) += P_block^T (N x B) a_block (B x K)``. ``G``, ``a`` (B, ·)
    and ``P`` (B, ·) are C-contiguous 2-D arrays of one dtype.
    """
    _gemm(True, N, K, a.shape[0], P, p0, a, a0, G, g0 * G.shape[1] + gc)


if numba_config.DISABLE_JIT:
    # Run as plain Python (NUMBA_DISABLE_JIT=1), the intrinsics above cannot execute: the same
    # two products through NumPy.
    def blas_block_product(out, o0, a, a0, W, w0, v0, K, N):  # noqa: F811
        out[:, o0:o0 + N] += a[:, a0:a0 + K] @ W[w0:w0 + K, v0:v0 + N]

    def blas_outer_products(G, g0, gc, a, a0, K, P, p0, N):  # noqa: F811
        G[g0:g0 + K, gc:gc + N] += a[:, a0:a0 + K].T @ P[:, p0:p0 + N]


# ----- loops for thin blocks ------------------------------------------------------------------

@njit(**HELPER_OPTIONS)
def add_row_product(out, o0, a, a0, W, w0, v0, K, N):
    r""":func:`add_block_product` for one row (B = 1, a vector times a block of W).

    Four rows of W per pass over ``out[0, o0:o0+N]``, summed as in the batched tile, so both
    give bitwise the same result for a row; a separate function so that the short loops of a
    single sequence carry no batch-tile code.
    """
    o = out[0, o0:o0 + N]
    c = 0
    while c + 4 <= K:
        w_0 = W[w0 + c, v0:v0 + N]
        w_1 = W[w0 + c + 1, v0:v0 + N]
        w_2 = W[w0 + c + 2, v0:v0 + N]
        w_3 = W[w0 + c + 3, v0:v0 + N]
        a_0 = a[0, a0 + c]
        a_1 = a[0, a0 + c + 1]
        a_2 = a[0, a0 + c + 2]
        a_3 = a[0, a0 + c + 3]
        for q in range(N):
            o[q] += (a_0 * w_0[q] + a_1 * w_1[q]) + (a_2 * w_2[q] + a_3 * w_3[q])
        c += 4
    while c < K:
        w_0 = W[w0 + c, v0:v0 + N]
        a_0 = a[0, a0 + c]
        for q in range(N):
            o[q] += a_0 * w_0[q]
        c += 1


@njit(**HELPER_OPTIONS)
def add_tile_product(out, o0, a, a0, W, w0, v0, K, N):
    r""":func:`add_block_product` for B >= 2, in 2 x 4 register tiles.

    Four rows of W (summed pairwise, then added) update two rows of ``out`` per pass, so each
    load of W serves two batch rows and each load and store of ``out`` four rows of W. The
    innermost loop runs over contiguous memory from index 0, which Numba compiles to SIMD
    instructions without reassociating any sum; each element sums the rows of W in the same
    order as :func:`add_row_product`. Two output rows, not four: with four, LLVM needs more
    run-time alias checks per loop, which costs more than it saves on short rows.
    """
    B = out.shape[0]
    c = 0
    while c + 4 <= K:
        w_0 = W[w0 + c, v0:v0 + N]
        w_1 = W[w0 + c + 1, v0:v0 + N]
        w_2 = W[w0 + c + 2, v0:v0 + N]
        w_3 = W[w0 + c + 3, v0:v0 + N]
        b = 0
        while b + 2 <= B:
            o = out[b, o0:o0 + N]
            p = out[b + 1, o0:o0 + N]
            a_0 = a[b, a0 + c]
            a_1 = a[b, a0 + c + 1]
            a_2 = a[b, a0 + c + 2]
            a_3 = a[b, a0 + c + 3]
            e_0 = a[b + 1, a0 + c]
            e_1 = a[b + 1, a0 + c + 1]
            e_2 = a[b + 1, a0 + c + 2]
            e_3 = a[b + 1, a0 + c + 3]
            for q in range(N):
                x_0 = w_0[q]
                x_1 = w_1[q]
                x_2 = w_2[q]
                x_3 = w_3[q]
                o[q] += (a_0 * x_0 + a_1 * x_1) + (a_2 * x_2 + a_3 * x_3)
                p[q] += (e_0 * x_0 + e_1 * x_1) + (e_2 * x_2 + e_3 * x_3)
            b += 2
        if b < B:
            o = out[b, o0:o0 + N]
            a_0 = a[b, a0 + c]
            a_1 = a[b, a0 + c + 1]
            a_2 = a[b, a0 + c + 2]
            a_3 = a[b, a0 + c + 3]
            for q in range(N):
                o[q] += (a_0 * w_0[q] + a_1 * w_1[q]) + (a_2 * w_2[q] + a_3 * w_3[q])
        c += 4
    while c < K:
        w_0 = W[w0 + c, v0:v0 + N]
        for b in range(B):
            o = out[b, o0:o0 + N]
            a_0 = a[b, a0 + c]
            for q in range(N):
                o[q] += a_0 * w_0[q]
        c += 1


@njit(**HELPER_OPTIONS)
def add_block_product(out, o0, a, a0, W, w0, v0, K, N):
    r"""``out[b, o0:o0+N] += a[b, a0:a0+K] @ W[w0:w0+K, v0:v0+N]`` for every row b.

    The one matrix-product pattern of both passes. ``out`` (B, ·), ``a`` (B, ·) and ``W`` are
    C-contiguous 2-D arrays; only the named block of W is read. Dispatches on B:
    :func:`add_row_product` for B = 1, :func:`add_tile_product` for B < ``BLAS_MIN_ROWS``,
    :func:`blas_block_product` otherwise.
    """
    B = out.shape[0]
    if B == 1:
        add_row_product(out, o0, a, a0, W, w0, v0, K, N)
    elif B < BLAS_MIN_ROWS:
        add_tile_product(out, o0, a, a0, W, w0, v0, K, N)
    else:
        blas_block_product(out, o0, a, a0, W, w0, v0, K, N)


@njit(**HELPER_OPTIONS)
def add_row_outer(G, g0, gc, a, a0, K, P, p0, N):
    r""":func:`add_outer_products` for one batch row (B = 1): K scaled copies of a row of P."""
    p_0 = P[0, p0:p0 + N]
    for u in range(K):
        g = G[g0 + u, gc:gc + N]
        a_0 = a[0, a0 + u]
        for q in range(N):
            g[q] += a_0 * p_0[q]


@njit(**HELPER_OPTIONS)
def add_outer_products(G, g0, gc, a, a0, K, P, p0, N):
    r"""``G[g0+u, gc:gc+N] += sum_b a[b, a0+u] * P[b, p0:p0+N]`` for u in ``0..K-1``.

    A block of a weight gradient, :math:`\bar W \mathrel{+}= \bar a^\top P`. ``G``, ``a`` (B, ·)
    and ``P`` (B, ·) are C-contiguous. Dispatches on B: :func:`add_row_outer` for B = 1,
    :func:`blas_outer_products` otherwise.
    """
    if a.shape[0] == 1:
        add_row_outer(G, g0, gc, a, a0, K, P, p0, N)
    else:
        blas_outer_products(G, g0, gc, a, a0, K, P, p0, N)


@njit(**HELPER_OPTIONS)
def add_block_dots(out, o0, a, a0, WT, v0, w0, K, N):
    r"""``out[b, o0:o0+N] += a[b, a0:a0+K] @ WT[v0:v0+N, w0:w0+K].T`` for every row b.

    The same product as :func:`add_block_product` with the block of W stored transposed, as N
    dot products of length K over contiguous memory. For a narrow output (N < 8, e.g. the input
    gradient when D is small) this beats the row-by-row form, whose innermost loop would run N
    times only. Four partial sums per dot product break the chain of dependent additions.
    """
    B = out.shape[0]
    zero = out.dtype.type(0.0)
    for b in range(B):
        a_b = a[b, a0:a0 + K]
        for o in range(N):
            w = WT[v0 + o, w0:w0 + K]
            s0 = zero
            s1 = zero
            s2 = zero
            s3 = zero
            c = 0
            while c + 4 <= K:
                s0 += a_b[c] * w[c]
                s1 += a_b[c + 1] * w[c + 1]
                s2 += a_b[c + 2] * w[c + 2]
                s3 += a_b[c + 3] * w[c + 3]
                c += 4
            while c < K:
                s0 += a_b[c] * w[c]
                c += 1
            out[b, o0 + o] += (s0 + s1) + (s2 + s3)


# ----- outer products collected over many steps -------------------------------------------------

class OuterQueue(NamedTuple):
    r"""Rows of weight-gradient outer products, collected per *slot* (a block of a gradient G)
    and applied as one BLAS product when a slot's rows are full or at the end of the pass.

    A gradient block :math:`\bar W_s \mathrel{+}= \sum_t \bar a_t^\top v_t` taken step by step
    is a product of B rows each time, which streams the whole block through memory for little
    work. Stacking the rows of many steps turns the sum into one product
    :math:`\bar W_s \mathrel{+}= \bar A^\top V` of up to :data:`QUEUE_ROWS` rows: the same
    sum, grouped differently (equal to rounding).

    Attributes
    ----------
    left : (R, Z) rows of the left factors :math:`\bar a_t`; slot s owns columns
        ``left_col[s]:left_col[s+1]``.
    right : (R, Y) rows of the right factors :math:`v_t`; slot s owns ``right_col[s]:...``.
    left_col : (S + 1,) int64; right_col : (S + 1,) int64.
    g_row : (S,) int64 and g_col : (S,) int64, the first row and column of slot s's block of G.
    fill : (S,) int64, the rows slot s holds.
    """

    left: np.ndarray
    right: np.ndarray
    left_col: np.ndarray
    right_col: np.ndarray
    g_row: np.ndarray
    g_col: np.ndarray
    fill: np.ndarray


@njit(**JIT_OPTIONS)
def new_outer_queue(left_width, right_width, g_row, g_col, like):
    """An empty queue for blocks ``G[g_row[s]:g_row[s]+left_width[s], g_col[s]:g_col[s]+
    right_width[s]]``; ``like`` (B, ·) gives B and the dtype. It holds :data:`QUEUE_ROWS` rows
    (at least B) per slot."""
    S = left_width.shape[0]
    B = like.shape[0]
    rows = B * max(1, QUEUE_ROWS // B)
    left_col = np.zeros(S + 1, dtype=np.int64)
    right_col = np.zeros(S + 1, dtype=np.int64)
    for s in range(S):
        left_col[s + 1] = left_col[s] + left_width[s]
        right_col[s + 1] = right_col[s] + right_width[s]
    return OuterQueue(left=np.empty((rows, left_col[S]), dtype=like.dtype),
                      right=np.empty((rows, right_col[S]), dtype=like.dtype),
                      left_col=left_col, right_col=right_col, g_row=g_row.copy(),
                      g_col=g_col.copy(), fill=np.zeros(S, dtype=np.int64))


@njit(**HELPER_OPTIONS)
def queue_outer(queue, s, left, l0, right, r0, G):
    r"""Queue slot s's outer product ``left[:, l0:l0+N]^T right[:, r0:r0+M]`` (B rows each;
    N, M the slot's widths) for its block of ``G``, applying the slot's rows first if full; with
    B >= ``QUEUE_DIRECT_ROWS`` rows, apply it at once."""
    B = left.shape[0]
    z0 = queue.left_col[s]
    y0 = queue.right_col[s]
    N = queue.left_col[s + 1] - z0
    M = queue.right_col[s + 1] - y0
    if B >= QUEUE_DIRECT_ROWS:
        # rows enough for BLAS already: apply now rather than copy
        blas_outer_products(G, queue.g_row[s], queue.g_col[s], left, l0, N, right, r0, M)
        return
    if queue.fill[s] + B > queue.left.shape[0]:
        drain_outer(queue, s, G)
    f = queue.fill[s]
    for b in range(B):
        row = queue.left[f + b, z0:z0 + N]
        src = left[b, l0:l0 + N]
        for q in range(N):
            row[q] = src[q]
        row = queue.right[f + b, y0:y0 + M]
        src = right[b, r0:r0 + M]
        for q in range(M):
            row[q] = src[q]
    queue.fill[s] = f + B


@njit(**HELPER_OPTIONS)
def drain_outer(queue, s, G):
    r"""Apply slot s's queued rows: :math:`G_s \mathrel{+}= \bar A^\top V`, one BLAS product."""
    f = queue.fill[s]
    if f > 0:
        z0 = queue.left_col[s]
        y0 = queue.right_col[s]
        blas_outer_products(G, queue.g_row[s], queue.g_col[s], queue.left[:f], z0,
                            queue.left_col[s + 1] - z0, queue.right[:f], y0,
                            queue.right_col[s + 1] - y0)
        queue.fill[s] = 0


@njit(**HELPER_OPTIONS)
def drain_all_outer(queue, G):
    """Apply every slot's queued rows (at the end of a backward pass)."""
    for s in range(queue.fill.shape[0]):
        drain_outer(queue, s, G)
