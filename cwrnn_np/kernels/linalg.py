r"""Small dense linear algebra for the kernels: block products, outer products, dot products.

Every function adds into a slice of an output buffer, reading blocks of the operands by offset,
so the family kernels can compute only the blocks that the wiring and the clock require. All are
plain loops whose innermost loop runs from index 0 over contiguous memory, so that LLVM emits
SIMD code without reassociating any sum (fastmath stays off).

Two shapes of loop: a *row* kernel for one batch row (B = 1, the generation setting), and a
*tile* kernel for B >= 2 that updates two output rows per pass over four rows of the weights,
so that each load of a weight row serves two batch rows. :func:`add_block_product` and
:func:`add_outer_products` pick one by B; a hot loop may call the row or tile kernel directly.
``np.dot`` is not used: inside Numba it calls BLAS through SciPy, which is not a dependency.
``docs/performance.md`` has the measurements behind these choices.

Shape letters: B batch rows, K the reduced dimension, N the output columns.
"""
from __future__ import annotations

from numba import njit

from .config import JIT_OPTIONS

__all__ = ["add_row_product", "add_tile_product", "add_block_product", "add_row_outer",
           "add_tile_outer", "add_outer_products", "add_block_dots"]


@njit(**JIT_OPTIONS)
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


@njit(**JIT_OPTIONS)
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


@njit(**JIT_OPTIONS)
def add_block_product(out, o0, a, a0, W, w0, v0, K, N):
    r"""``out[b, o0:o0+N] += a[b, a0:a0+K] @ W[w0:w0+K, v0:v0+N]`` for every row b.

    The one matrix-product pattern of both passes. ``out`` (B, ·), ``a`` (B, ·) and ``W`` are
    C-contiguous 2-D arrays; only the named block of W is read, row by row. Dispatches on B:
    :func:`add_row_product` for B = 1, :func:`add_tile_product` otherwise. Kept this small
    so that LLVM inlines it: a real call passes every array as several arguments, which costs
    about as much as a 16 x 16 block product.
    """
    if out.shape[0] == 1:
        add_row_product(out, o0, a, a0, W, w0, v0, K, N)
    else:
        add_tile_product(out, o0, a, a0, W, w0, v0, K, N)


@njit(**JIT_OPTIONS)
def add_row_outer(G, g0, gc, a, a0, K, P, p0, N):
    r""":func:`add_outer_products` for one batch row (B = 1): K scaled copies of a row of P."""
    p_0 = P[0, p0:p0 + N]
    for u in range(K):
        g = G[g0 + u, gc:gc + N]
        a_0 = a[0, a0 + u]
        for q in range(N):
            g[q] += a_0 * p_0[q]


@njit(**JIT_OPTIONS)
def add_tile_outer(G, g0, gc, a, a0, K, P, p0, N):
    r""":func:`add_outer_products` for B >= 2, in 2 x 4 register tiles.

    The same tile as :func:`add_tile_product`: four batch rows of P (summed pairwise, then
    added) update two rows of G per pass; each element of G sums its batch rows in the same
    order whatever K is.
    """
    B = a.shape[0]
    u = 0
    while u + 2 <= K:
        g = G[g0 + u, gc:gc + N]
        f = G[g0 + u + 1, gc:gc + N]
        b = 0
        while b + 4 <= B:
            a_0 = a[b, a0 + u]
            a_1 = a[b + 1, a0 + u]
            a_2 = a[b + 2, a0 + u]
            a_3 = a[b + 3, a0 + u]
            e_0 = a[b, a0 + u + 1]
            e_1 = a[b + 1, a0 + u + 1]
            e_2 = a[b + 2, a0 + u + 1]
            e_3 = a[b + 3, a0 + u + 1]
            p_0 = P[b, p0:p0 + N]
            p_1 = P[b + 1, p0:p0 + N]
            p_2 = P[b + 2, p0:p0 + N]
            p_3 = P[b + 3, p0:p0 + N]
            for q in range(N):
                x_0 = p_0[q]
                x_1 = p_1[q]
                x_2 = p_2[q]
                x_3 = p_3[q]
                g[q] += (a_0 * x_0 + a_1 * x_1) + (a_2 * x_2 + a_3 * x_3)
                f[q] += (e_0 * x_0 + e_1 * x_1) + (e_2 * x_2 + e_3 * x_3)
            b += 4
        while b < B:
            a_0 = a[b, a0 + u]
            e_0 = a[b, a0 + u + 1]
            p_0 = P[b, p0:p0 + N]
            for q in range(N):
                g[q] += a_0 * p_0[q]
                f[q] += e_0 * p_0[q]
            b += 1
        u += 2
    if u < K:
        g = G[g0 + u, gc:gc + N]
        b = 0
        while b + 4 <= B:
            a_0 = a[b, a0 + u]
            a_1 = a[b + 1, a0 + u]
            a_2 = a[b + 2, a0 + u]
            a_3 = a[b + 3, a0 + u]
            p_0 = P[b, p0:p0 + N]
            p_1 = P[b + 1, p0:p0 + N]
            p_2 = P[b + 2, p0:p0 + N]
            p_3 = P[b + 3, p0:p0 + N]
            for q in range(N):
                g[q] += (a_0 * p_0[q] + a_1 * p_1[q]) + (a_2 * p_2[q] + a_3 * p_3[q])
            b += 4
        while b < B:
            a_0 = a[b, a0 + u]
            p_0 = P[b, p0:p0 + N]
            for q in range(N):
                g[q] += a_0 * p_0[q]
            b += 1


@njit(**JIT_OPTIONS)
def add_outer_products(G, g0, gc, a, a0, K, P, p0, N):
    r"""``G[g0+u, gc:gc+N] += sum_b a[b, a0+u] * P[b, p0:p0+N]`` for u in ``0..K-1``.

    A block of a weight gradient, :math:`\bar W \mathrel{+}= \bar a^\top P`. ``G``, ``a`` (B, ·)
    and ``P`` (B, ·) are C-contiguous. Dispatches on B as :func:`add_block_product` does:
    :func:`add_row_outer` for B = 1, :func:`add_tile_outer` otherwise.
    """
    if a.shape[0] == 1:
        add_row_outer(G, g0, gc, a, a0, K, P, p0, N)
    else:
        add_tile_outer(G, g0, gc, a, a0, K, P, p0, N)


@njit(**JIT_OPTIONS)
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
