# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tutorial 1: the mechanics of a Clockwork RNN
#
# A Clockwork RNN (Koutník, Greff, Gomez and Schmidhuber, "A Clockwork RNN", ICML 2014) splits
# the hidden layer of a simple RNN into modules that run at different speeds. This tutorial takes
# the machine apart with `cwrnn_np`:
#
# 1. the **clock**, which says when each module is allowed to update;
# 2. the **wiring**, which says which module reads which: the paper's original, the design
#    note's full duplex, and its odd-even split of the fastest module;
# 3. a **forward pass** on a toy input, where inactive modules hold their state bitwise;
# 4. **chunked processing** with the carried state `cache.h_last` and the clock offset `t0`;
# 5. a **loss and its backward pass** (hand-derived BPTT);
# 6. a **gradient check** of that backward pass against finite differences.
#
# Every claim in the prose is checked by an `assert` in the cell below it, and the test suite
# runs this file (`tests/test_tutorials.py`), so the tutorial cannot silently rot.
#
# Shapes follow the package: L time, B batch, D input, H hidden, O output, n modules.
# The notation is that of `docs/notation.md`; the equations are in `docs/model.md`.
#
# It runs as a notebook (jupytext percent format) or as a plain script,
# `python tutorials/01_clockwork_mechanics.py`. Figures are saved only if the environment
# variable `CWRNN_TUTORIAL_OUTDIR` names a directory; otherwise they are shown (in a notebook)
# or closed (in a script).

# %%
import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import cwrnn_np as cw
from cwrnn_np import plotting

OUTDIR = os.environ.get("CWRNN_TUTORIAL_OUTDIR")


def finish(fig, name):
    """Save ``fig`` as ``name``.png if CWRNN_TUTORIAL_OUTDIR is set; close it unless a notebook
    is going to display it at the end of the cell."""
    if OUTDIR:
        Path(OUTDIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(OUTDIR) / f"{name}.png", dpi=100)
    if "inline" not in matplotlib.get_backend():
        plt.close(fig)


rng = np.random.default_rng(2014)

# %% [markdown]
# ## 1. The clock
#
# Module $i$ has $k_i$ units, an integer period $T_i \ge 1$ and a phase $0 \le \phi_i < T_i$.
# At step $t$ of a call with clock offset $t_0$ it is **active** iff
#
# $$\chi_t[i] = \big[(t_0 + t - \phi_i) \bmod T_i = 0\big].$$
#
# An active module computes $h_t[i] = \tanh(a_t[i])$; an inactive one keeps $h_{t-1}[i]$.
# The paper uses the exponential schedule $T_i = 2^i$. With $t_0 = 0$ and zero phases every
# module fires at the first step.
#
# Our running example: four modules of four units each, periods 1, 2, 4, 8, one input and one
# output.

# %%
spec = cw.ClockworkSpec(input_size=1, output_size=1, module_sizes=[4, 4, 4, 4],
                        periods=cw.schedules.exponential(4))
print("periods", spec.periods, "phases", spec.phases, "H =", spec.hidden_size)

active = spec.active(16)  # (L, n) bool
print("step  " + "  ".join(f"T={T}" for T in spec.periods))
for t in range(9):
    print(f"{t:4d}  " + "  ".join(f"{'#' if a else '.':>3s}" for a in active[t]))

assert active[0].all(), "with t0 = 0 and zero phases, every module fires at step 0"
for i, T in enumerate(spec.periods):
    # over 16 steps, module i fires every T_i steps: 16 / T_i times
    assert active[:, i].sum() == 16 // T
# the offset t0 just continues the clock: steps 0.. of a call with t0 = 5 are global steps 5..
assert np.array_equal(spec.active(16, t0=5), spec.active(21)[5:])

fig, ax = plt.subplots(figsize=(9, 2.2), layout="constrained")
plotting.plot_clock(spec, 32, ax=ax)
finish(fig, "clock")

# %% [markdown]
# ## 2. Wiring: who feeds whom
#
# The module-level matrix $C$ ($n \times n$) says that module $j$ feeds module $i$ iff
# $C[i, j]$ is true. Block $(i, j)$ of $W_H$ is a structural zero where $C[i, j]$ is false; the
# unit-level mask $M_H$ ($H \times H$) is $C$ with every entry blown up to a $k_i \times k_j$
# block.
#
# * **Original (`"clockwork"`)**: $C[i, j] = [T_j \ge T_i]$. A module reads itself, its equals and
#   slower modules, never faster ones. With ascending periods this is block upper-triangular.
# * **Full duplex (`"full"`)**: every module reads every module, so slow modules also hear the
#   fast ones. This is the design note's central proposal.
# * **Odd-even** (`cw.odd_even`): the fastest module, which sees every input, is split into two
#   modules of twice the period that take turns (phases 0 and 1). Each half inherits the
#   original's row and column of $C$, and the two halves read each other.

# %%
clockwork = spec
full = spec.replace(connectivity="full")
odd_even = cw.odd_even(spec)
wirings = {"clockwork (original)": clockwork, "full duplex": full, "odd-even": odd_even}
for name, s in wirings.items():
    print(f"{name:22s} periods {s.periods} phases {s.phases}")
    print(s.C.astype(int))

n = spec.n_modules
T = np.array(spec.periods)
assert np.array_equal(clockwork.C, T[None, :] >= T[:, None])  # C[i, j] = [T_j >= T_i]
assert np.array_equal(clockwork.C, np.triu(np.ones((n, n), bool)))  # ascending: upper-triangular
assert full.C.all()
for s in wirings.values():  # M_H is C blown up to 4 x 4 blocks
    assert np.array_equal(s.M_H, np.kron(s.C, np.ones((4, 4), bool)))

# the two halves of the split module fire alternately, never together, and between them
# exactly when the original period-1 module fired
L = 16
halves = odd_even.active(L)[:, :2]  # (L, 2)
assert not (halves[:, 0] & halves[:, 1]).any()
assert np.array_equal(halves[:, 0] | halves[:, 1], clockwork.active(L)[:, 0])
assert odd_even.C[:2, :2].all(), "the two halves read each other"

fig, axes = plt.subplots(1, 3, figsize=(12, 4.6), layout="constrained")
for ax, (name, s) in zip(axes, wirings.items()):
    plotting.plot_hidden_mask(s, ax=ax)
    ax.set_title(f"{name}: $M_H$, H={s.hidden_size}", fontsize=10)
finish(fig, "masks_wiring")

fig, ax = plt.subplots(figsize=(9, 2.4), layout="constrained")
plotting.plot_clock(odd_even, 32, ax=ax)
ax.set_title("clock of the odd-even spec: the two T=2 halves take turns")
finish(fig, "clock_odd_even")

# %% [markdown]
# ## 3. A forward pass on a toy input
#
# Two sine waves of different frequency (B = 2 sequences, D = 1) go through the clockwork spec
# with random parameters. `forward` is a pure function: it returns the outputs $y$
# (L, B, O) and a named cache holding the states $h$ (L, B, H) and the clock expanded to units,
# `cache.active` (L, H).
#
# The defining property of the clock: where a module is inactive, its state is the previous
# state **bitwise**: no arithmetic touches it (not even adding zero).

# %%
L, B = 48, 2
t = np.arange(L)
x = np.stack([np.sin(2 * np.pi * t / 12), np.sin(2 * np.pi * t / 20)], axis=1)[:, :, None]
print("x", x.shape)  # (L, B, D)

params = cw.init_params(spec, rng)
y, cache = cw.forward(params, spec, x)
print("y", y.shape, " h", cache.h.shape, " active", cache.active.shape)
assert y.shape == (L, B, 1) and cache.h.shape == (L, B, spec.hidden_size)

h_prev = np.concatenate([cache.h_init[None], cache.h[:-1]])  # (L, B, H): h_{t-1}
held = np.broadcast_to(~cache.active[:, None, :], cache.h.shape)  # (L, B, H)
assert np.array_equal(cache.h[held], h_prev[held]), "inactive modules hold their state bitwise"
changed = (cache.h != h_prev).any(axis=1)  # (L, H) some batch element changed
for i, (lo, hi) in enumerate(zip(spec.offsets[:-1], spec.offsets[1:])):
    n_updates = int(changed[:, lo:hi].any(axis=1).sum())
    print(f"module {i} (T={spec.periods[i]}): active {int(cache.active[:, lo].sum())} "
          f"of {L} steps, state changed at {n_updates}")
    assert n_updates <= cache.active[:, lo].sum()

# masked weights are structural zeros: whatever value they hold, y does not move
p_noise = dict(params, W_H=np.where(spec.M_H, params["W_H"], 1e3))
assert np.array_equal(cw.forward(p_noise, spec, x)[0], y)

fig, ax = plt.subplots(figsize=(9, 3.6), layout="constrained")
plotting.plot_states(cache.h, spec, b=0, ax=ax)
finish(fig, "states")

# %% [markdown]
# The image shows the slow modules as horizontal runs of constant colour, each as long as the
# module's period.
#
# ## 4. Chunked processing: `cache.h_last` and `t0`
#
# A long sequence can be processed in chunks. The second call takes the last state of the first,
# `cache.h_last` (B, H), as `h_init`, and the clock offset `t0` = length of the first chunk, so
# that the clock continues rather than restarting. The result equals one call, bit for bit. We
# cut at step 19, which is not a multiple of any period.

# %%
L1 = 19
y1, c1 = cw.forward(params, spec, x[:L1])
y2, c2 = cw.forward(params, spec, x[L1:], h_init=c1.h_last, t0=L1)
assert np.array_equal(np.concatenate([y1, y2]), y), "two chunks equal one call"
assert np.array_equal(np.concatenate([c1.h, c2.h]), cache.h)
assert np.array_equal(c2.h_last, cache.h_last)

# forgetting t0 restarts the clock: every module fires at the start of the second chunk
y2_wrong, _ = cw.forward(params, spec, x[L1:], h_init=c1.h_last)
assert not np.array_equal(y2_wrong, y[L1:])
print("chunked == whole:", True, "| without t0:", "max |diff| =",
      float(np.abs(y2_wrong - y[L1:]).max()))

# %% [markdown]
# ## 5. A loss and the backward pass
#
# Task: predict the next value of each sine. `cw.mse` returns the loss and
# $\partial \ell / \partial y$ (L, B, O); `cw.backward` turns that into gradients for every
# parameter (and for `x` and `h_init`), by hand-derived BPTT (`docs/bptt.md`). Through an
# inactive module the gradient passes straight back, just as the state passed straight forward.
# Structurally masked weights get exactly zero gradient, so a gradient step keeps the wiring.

# %%
target = np.concatenate([x[1:], x[-1:]])  # (L, B, D): next value, last one repeated
loss, dy = cw.mse(y, target)
grads = cw.backward(params, spec, dy, cache)
print(f"loss {loss:.4f}")
for name, g in grads.items():
    print(f"  d{name:7s} {g.shape}")
assert set(grads) == set(params) | {"x", "h_init"}
assert np.all(grads["W_H"][~spec.M_H] == 0), "masked weights get exactly zero gradient"
assert np.all(grads["W_I"][~spec.M_I] == 0)

# a small step against the gradient lowers the loss, and keeps the structural zeros
lr = 0.05
stepped = {k: params[k] - lr * grads[k] for k in params}
loss_after, _ = cw.mse(cw.forward(stepped, spec, x)[0], target)
print(f"after one step of size {lr}: loss {loss_after:.4f}")
assert loss_after < loss
assert np.all(stepped["W_H"][~spec.M_H] == 0)

# %% [markdown]
# ## 6. Checking the gradients
#
# `cw.gradcheck` audits `backward` against float64 finite differences of `forward` (a
# sixth-order central difference: Richardson extrapolation of the fourth-order stencil). The
# objective is a random linear functional of the outputs and the last state,
# $f = \langle u, y \rangle + \langle w, h_{L-1} \rangle$ with Gaussian $u, w$ (never all ones,
# which would hide sign and permutation bugs). It checks
#
# * every free entry of every parameter, of `x` and of `h_init`, one at a time; and
# * random directions $v$: numeric $\langle u, J v\rangle$ against analytic
#   $\langle J^\top u, v\rangle$.
#
# The relative error must be at most $10^{-6}$ everywhere. We run it for all three wirings, on a
# short sequence with a clock offset and a random carried-in state, so that phases, offsets and
# the odd-even halves are all exercised.

# %%
for name, s in wirings.items():
    p = cw.init_params(s, rng)
    xs = rng.standard_normal((11, 2, s.input_size))  # (L, B, D)
    h0 = 0.5 * rng.standard_normal((2, s.hidden_size))  # (B, H)
    report = cw.gradcheck(p, s, xs, h_init=h0, t0=3, rng=np.random.default_rng(1))
    print(f"--- {name}")
    print(report)
    assert report.passed(1e-6), f"{name}: {report.worst}"
    assert not report.masked_nonzero

# %% [markdown]
# ## Summary
#
# * The clock $\chi_t[i] = [(t_0 + t - \phi_i) \bmod T_i = 0]$ decides which modules update;
#   `spec.active(L, t0)` computes it and `plotting.plot_clock` draws it.
# * The wiring $C$ (module level) and its unit-level mask $M_H$ decide who reads whom; the
#   original clockwork, full-duplex and odd-even wirings differ only there
#   (`plotting.plot_hidden_mask`).
# * Inactive modules hold their state bitwise; masked weights cannot change the output.
# * Chunks with `h_init=cache.h_last` and `t0` equal one call.
# * `cw.backward` gives exact gradients (relative error below $10^{-6}$ against finite
#   differences) for every wiring.
