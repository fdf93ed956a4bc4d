r"""Held sources: reuse a wired block product while the state it reads is held, and defer its
gradient the same way.

A clockwork module is held bitwise between two activations (M4 in ``docs/model.md``; S5 in
``docs/variants.md``), so the block product that a reading module takes from a held source,

.. math::

    z_p = \tilde W_H[\mathrm{dst}_p, \mathrm{src}_p]\, \tilde h_{t-1}[\mathrm{src}_p],

is the same at every step until the source fires again or a reset replaces the state by r.
The forward kernels keep :math:`z_p` per wired pair p, tagged with the *version* of the source
state it was computed from, and multiply again only when that version changed. The reuse is
exact, not an approximation: the stored product is the same loop over the same values, so it
is bitwise what a new multiplication would give.

The backward kernels do the transpose. Every step that reads one version of the source
contributes :math:`\tilde W_H^\top \bar a_t[\mathrm{dst}_p]` to the gradient on that state
(B4 / SB7, recurrent term) and :math:`\bar a_t[\mathrm{dst}_p]^\top \tilde h[\mathrm{src}_p]`
to :math:`\bar W_H` (B6 / SB9). Both are linear in :math:`\bar a_t` and the other factor is
the same for all those steps, so the kernels sum :math:`\bar a_t[\mathrm{dst}_p]` over them
(:func:`defer`) and apply :math:`\tilde W_H^\top` and the outer product once per version
(:func:`flush`). From four batch rows the outer products are not taken one version at a time
either: their rows wait in an :class:`~cwrnn_np.kernels.linalg.OuterQueue` and reach
:math:`\bar W_H` as one BLAS product per pair for many versions. This is the same sum grouped
differently (equal to rounding). Applying it late loses nothing: between two versions the source
is held, and a held state's gradient passes through the held steps unchanged, so the deferred
part may join it at any point before the backward pass reads the gradient of the version itself.
That happens at the step that made the version (the source fired there: B3 / SB3 read it), at a
reset (the version is r) or at the start of the call (the version is ``h_init``), and the
kernels flush at exactly those points.

With the paper's wiring (slow modules feed fast ones) a pair then costs once per period of
its slower, read module instead of once per period of the reading one.

Versions are named by the event that made the state, so no counter is needed: 0 is the
carried-in state, :math:`2t + 1` the reset state r placed before step t, :math:`2t + 2` the
state a module computed at step t; a product not computed yet has version -1.

Shape letters: B batch, H hidden, n modules, P wired pairs, Z the total width
:math:`\sum_p N_p` of the pairs' columns, :math:`N_p` the reading units of pair p and
:math:`M_p` the read units.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from .config import HELPER_OPTIONS, JIT_OPTIONS
from .linalg import (OuterQueue, add_block_product, add_row_product, drain_all_outer,
                     new_outer_queue, queue_outer)

__all__ = ["HeldPairs", "HeldProducts", "DeferredGrads", "new_held_products",
           "mark_reset", "mark_fired", "add_held_products", "new_deferred_grads", "defer", "flush",
           "flush_all", "reset_rows", "cut_at_reset"]




class HeldPairs(NamedTuple):
    r"""Where the wired pairs lie, in hidden units. Pair p is the block
    :math:`\tilde W_H[\mathrm{dst}_p, \mathrm{src}_p]` of rows ``dst0[p]:dst0[p]+N_p`` and
    columns ``src0[p]:src0[p]+M_p``.

    Attributes
    ----------
    dst0 : (P,) int64, the first reading unit.
    col : (P + 1,) int64, pair p owns columns ``col[p]:col[p+1]`` of the (B, Z) buffers;
        :math:`N_p` = ``col[p+1] - col[p]``.
    src0 : (P,) int64, the first read unit.
    src_len : (P,) int64, :math:`M_p`.
    src_module : (P,) int64, a module of the read units; they all change together, so its
        version is theirs.
    """

    dst0: np.ndarray
    col: np.ndarray
    src0: np.ndarray
    src_len: np.ndarray
    src_module: np.ndarray


class HeldProducts(NamedTuple):
    """The forward pass's held products.

    Attributes
    ----------
    products : (B, Z) :math:`z_p` of each pair, in its columns, as last computed.
    product_version : (P,) int64, the version of the source state each :math:`z_p` is of.
    state_version : (n,) int64, the version of each module's entering state.
    """

    products: np.ndarray
    product_version: np.ndarray
    state_version: np.ndarray


class DeferredGrads(NamedTuple):
    r"""The backward pass's deferred sums.

    Attributes
    ----------
    grad_sums : (B, Z) :math:`\sum_t \bar a_t[\mathrm{dst}_p]` of each pair over the steps
        that read the current version of its source.
    pending : (P,) bool, ``grad_sums`` of pair p is not all zero.
    outer : OuterQueue with a slot per pair: the rows of :math:`\bar W_H`'s outer products
        (B6 / SB9) of the versions already flushed, not yet applied.
    """

    grad_sums: np.ndarray
    pending: np.ndarray
    outer: OuterQueue


@njit(**JIT_OPTIONS)
def new_held_products(pairs, n_modules, like):
    """Empty held products for the pairs; ``like`` (B, ·) gives B and the dtype."""
    n_pairs = pairs.src0.shape[0]
    return HeldProducts(
        products=np.empty((like.shape[0], pairs.col[n_pairs]), dtype=like.dtype),  # (B, Z)
        product_version=np.full(n_pairs, -1, dtype=np.int64),                      # (P,)
        state_version=np.zeros(n_modules, dtype=np.int64))                         # (n,)


@njit(**HELPER_OPTIONS)
def mark_reset(held, t):
    """The reset before step t replaced every module's state by r: a new version of each."""
    held.state_version[:] = 2 * t + 1


@njit(**HELPER_OPTIONS)
def mark_fired(held, i, t):
    """Module i computed a new state at step t (call it after every product of the step)."""
    held.state_version[i] = 2 * t + 2


@njit(**HELPER_OPTIONS)
def add_held_products(a_t, pairs, first, end, held, h_prev, W_HT):
    r"""``a_t[:, dst] += z_p`` for the pairs ``first:end`` (those of one reading module or
    block): their terms of the pre-activations (M3 / S2).

    :math:`z_p = \tilde W_H[\mathrm{dst}_p, \mathrm{src}_p] \tilde h_{t-1}[\mathrm{src}_p]` is
    multiplied again only if the source state ``h_prev`` (B, H) is a newer version than the
    held one. ``a_t`` (B, H); ``W_HT`` (H, H) is :math:`W_H^\top`, C-contiguous, so the
    reading units are contiguous in a row.
    """
    products = held.products
    B = products.shape[0]
    for p in range(first, end):
        z0 = pairs.col[p]
        N = pairs.col[p + 1] - z0
        u0 = pairs.dst0[p]
        source_version = held.state_version[pairs.src_module[p]]
        if held.product_version[p] != source_version:
            # the source changed since z_p was computed: multiply again
            c0 = pairs.src0[p]
            products[:, z0:z0 + N] = 0
            if B == 1:
                # called directly: for one row the dispatcher's BLAS branch keeps LLVM from
                # inlining it, and the call would cost as much as the 16 x 16 block
                add_row_product(products, z0, h_prev, c0, W_HT, c0, u0, pairs.src_len[p], N)
            else:
                add_block_product(products, z0, h_prev, c0, W_HT, c0, u0, pairs.src_len[p], N)
            held.product_version[p] = source_version
        for b in range(B):
            a_b = a_t[b, u0:u0 + N]
            z_b = products[b, z0:z0 + N]
            for q in range(N):
                a_b[q] += z_b[q]


@njit(**JIT_OPTIONS)
def new_deferred_grads(pairs, like):
    """Empty (zero) deferred sums for the pairs; ``like`` (B, ·) gives B and the dtype."""
    n_pairs = pairs.src0.shape[0]
    return DeferredGrads(
        grad_sums=np.zeros((like.shape[0], pairs.col[n_pairs]), dtype=like.dtype),  # (B, Z)
        pending=np.zeros(n_pairs, dtype=np.bool_),                                  # (P,)
        outer=new_outer_queue(pairs.col[1:] - pairs.col[:-1], pairs.src_len, pairs.dst0,
                              pairs.src0, like))


@njit(**HELPER_OPTIONS)
def defer(deferred, pairs, first, end, da):
    r"""Add this step's :math:`\bar a_t[\mathrm{dst}_p]` (rows of ``da`` (B, H)) to the sums of
    the pairs ``first:end`` (those of one reading module or block), for the versions of their
    sources that the step read (B4, B6 / SB7, SB9, deferred)."""
    for p in range(first, end):
        z0 = pairs.col[p]
        N = pairs.col[p + 1] - z0
        u0 = pairs.dst0[p]
        for b in range(da.shape[0]):
            acc = deferred.grad_sums[b, z0:z0 + N]
            da_b = da[b, u0:u0 + N]
            for q in range(N):
                acc[q] += da_b[q]
        deferred.pending[p] = True


@njit(**HELPER_OPTIONS)
def flush(deferred, pairs, p, value, grad, dW_H, W_H):
    r"""Apply pair p's deferred gradient for one version of its source (the caller checks
    that one is pending).

    ``value`` (B, H) holds that version in the source's units. With :math:`S_p` the deferred
    sum (B, :math:`N_p`), adds :math:`S_p \tilde W_H[\mathrm{dst}_p, \mathrm{src}_p]` into
    ``grad`` (B, H), the gradient on the version (B4 / SB7, recurrent term), and
    :math:`S_p^\top` ``value[:, src]`` to ``dW_H`` (H, H) (B6 / SB9; queued from four batch
    rows, added at once below); then clears
    :math:`S_p` for the next version. ``W_H`` (H, H) is read in the pair's block only.
    """
    z0 = pairs.col[p]
    N = pairs.col[p + 1] - z0
    u0 = pairs.dst0[p]
    c0 = pairs.src0[p]
    M = pairs.src_len[p]
    sums = deferred.grad_sums
    B = sums.shape[0]
    if B >= 4:
        # gradient on the read state through W_H[dst, src] (B4 / SB7)
        add_block_product(grad, c0, sums, z0, W_H, u0, c0, N, M)
        # recurrent weight gradient, this block only (B6 / SB9), queued
        queue_outer(deferred.outer, p, sums, z0, value, c0, dW_H)
    else:
        # the same two updates in one pass over the block: for so few rows the block's loads
        # cost more than its arithmetic, and one pass loads it once
        for u in range(N):
            w = W_H[u0 + u, c0:c0 + M]
            dw = dW_H[u0 + u, c0:c0 + M]
            for b in range(B):
                s = sums[b, z0 + u]
                g_b = grad[b, c0:c0 + M]
                v_b = value[b, c0:c0 + M]
                for q in range(M):
                    g_b[q] += s * w[q]           # (B4 / SB7)
                    dw[q] += s * v_b[q]          # (B6 / SB9)
    sums[:, z0:z0 + N] = 0
    deferred.pending[p] = False


@njit(**HELPER_OPTIONS)
def flush_all(deferred, pairs, value, grad, dW_H, W_H):
    """:func:`flush` every pending pair, then apply every queued row of ``dW_H``: at a reset
    (every source read r, the ``value``) and at the start of the call (every source read
    ``h_init``), which ends the backward pass."""
    for p in range(pairs.src0.shape[0]):
        if deferred.pending[p]:
            flush(deferred, pairs, p, value, grad, dW_H, W_H)
    drain_all_outer(deferred.outer, dW_H)


@njit(**JIT_OPTIONS)
def reset_rows(r, B):
    """(B, H) the reset state r (H,) repeated for every sequence of the batch: the value every
    source holds after a reset."""
    h_r = np.empty((B, r.shape[0]), dtype=r.dtype)
    for b in range(B):
        h_r[b, :] = r
    return h_r


@njit(**HELPER_OPTIONS)
def cut_at_reset(deferred, pairs, h_r, delta, dW_H, W_H, dr, eps):
    """Backward through a reset before step t: the state entering step t was r, so every
    pending version is r's and is flushed into ``delta`` (B4 and B6; SB7 and SB9), the gradient
    ``delta`` (B, H) on that state reaches r and is summed into ``dr`` (H,), and nothing passes
    on to :math:`h_{t-1}`: ``eps`` is cleared (B5; SB8)."""
    flush_all(deferred, pairs, h_r, delta, dW_H, W_H)
    for b in range(delta.shape[0]):
        d = delta[b]
        for u in range(delta.shape[1]):
            dr[u] += d[u]
    eps[:, :] = 0
