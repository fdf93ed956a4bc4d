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
# # Tutorial 2: soft clocks, the design note's deeper variants
#
# Tutorial 1 took the Clockwork RNN apart: a module updates when its clock fires and holds its
# state otherwise. The design note proposes two ways to make that choice soft, so that gradient
# descent can shape it (derivations in `docs/variants.md`):
#
# 1. **soft selection**: several modules share one clock, and at each tick a softmax decides how
#    much each of them updates;
# 2. **learned periods**: each module holds a Gaussian distribution over candidate periods (in
#    log-period) and updates by its *expected* clock; the network can even emit that
#    distribution from its state.
#
# Both replace the hard update by a gate $u \in [0, 1]$ per module,
# $h_t = u_t \odot \tanh(a_t) + (1 - u_t) \odot \tilde h_{t-1}$; the CW-RNN is the case
# $u_t = \chi_t \in \{0, 1\}$, its clock. This tutorial shows the gates, checks the hand-derived
# gradients, and turns a soft clock back into an ordinary CW-RNN with `harden`. Every claim is
# asserted, and the test suite runs this file. Figures are saved if `CWRNN_TUTORIAL_OUTDIR` names
# a directory.

# %%
import os
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import cwrnn_np as cw
from cwrnn_np.models.learned_periods import (LearnedPeriodSpec, forward_periods, gradcheck_periods,
                                      harden, init_period_params, module_periods)
from cwrnn_np.models.selection import forward_select, gradcheck_select, group_modules, init_select_params

OUTDIR = os.environ.get("CWRNN_TUTORIAL_OUTDIR")


def finish(fig, name):
    """Save ``fig`` as ``name``.png if CWRNN_TUTORIAL_OUTDIR is set; close it unless a notebook
    is going to display it."""
    if OUTDIR:
        Path(OUTDIR).mkdir(parents=True, exist_ok=True)
        fig.savefig(Path(OUTDIR) / f"{name}.png", dpi=100)
    if "inline" not in matplotlib.get_backend():
        plt.close(fig)


rng = np.random.default_rng(2014)
base = cw.ClockworkSpec(input_size=1, output_size=1, module_sizes=[3, 3], periods=[1, 4])
x = rng.standard_normal((24, 2, 1))                  # (L, B, D)

# %% [markdown]
# ## 1. Soft selection
#
# `group_modules(base, 2)` replaces each module by two copies with the same clock; the copies
# form a group. When the group's clock fires, $g = \mathrm{softmax}((W_S [x_t; \tilde h_{t-1}]
# + b_S)/\tau)$ over the two copies sets their gates. When it does not fire, both copies hold
# their state exactly, as in a CW-RNN, and the cache records $g = 0$.

# %%
sel = group_modules(base, 2, temperature=1.0)
assert sel.periods == (1, 1, 4, 4) and sel.groups == ((0, 1), (2, 3))
p_sel = init_select_params(sel, rng)
y, cache = forward_select(p_sel, sel, x)
g = cache.g                                           # (L, B, S): one column per grouped module
slow_rows = slice(2, 4)
fires = (np.arange(24) % 4) == 0
assert np.allclose(g[:, :, 0:2].sum(axis=2), 1.0)    # the period-1 group fires every step
assert np.allclose(g[fires][:, :, slow_rows].sum(axis=2), 1.0)
assert np.all(g[~fires][:, :, slow_rows] == 0)       # off-clock: no selection ...
h_slow = cache.h[:, :, 6:]                           # ... and the slow copies hold bitwise
assert all(np.array_equal(h_slow[t], h_slow[t - 1]) for t in range(1, 24) if not fires[t])

fig, ax = plt.subplots(figsize=(7, 2.5))
ax.step(np.arange(24), g[:, 0, 0], where="mid", label="g, copy 0 of the period-1 module")
ax.step(np.arange(24), g[:, 0, 2], where="mid", label="g, copy 0 of the period-4 module")
ax.set_xlabel("step t")
ax.legend(fontsize=7)
finish(fig, "selection")

# %% [markdown]
# The temperature $\tau$ sharpens the choice: at a low temperature the selection is nearly
# one-hot. The trainer anneals it with `model.temperature_end`.

# %%
_, cold = forward_select(p_sel, sel.replace(temperature=0.01), x)
assert cold.g[:, :, 0:2].max(axis=2).mean() > g[:, :, 0:2].max(axis=2).mean()
assert cold.g[:, :, 0:2].max(axis=2).min() > 0.99

# %% [markdown]
# ## 2. Learned periods
#
# Each module $i$ puts weight $w[i, p] \propto \exp(-(\lambda_p - \mu_i)^2 / 2\sigma_i^2)$, with
# $\lambda_p = \log p$, on the candidate periods $p \in P$ and updates by
# $\alpha_t[i] = \sum_p w[i, p]\,[(t_0 + t) \bmod p = 0]$, the probability that its clock fires.
# $\mu_i$ starts at the log of the schedule's period. With $\sigma = 0.5$ the module that starts at
# period 4 spreads its weight over 2..8: it fires fully only where every candidate fires
# (t = 0, 24, ...), about half-way at t = 8 (where 1, 2, 4 and 8 fire but not 3 and 6), and
# hardly at all where only p = 1 fires.

# %%
lp = LearnedPeriodSpec(base, candidates=[1, 2, 3, 4, 6, 8], form="static", sigma_init=0.5)
q = init_period_params(lp, rng)
assert np.allclose(np.exp(q["mu"]), [1, 4])
y_soft, pc = forward_periods(q, lp, x)
alpha = pc.alpha[:, 0, 1]                             # (L,) the period-4 module
assert np.all((0 <= alpha) & (alpha <= 1))
assert alpha[0] == 1.0 and 0.4 < alpha[8] < 0.6 and alpha[1] < 0.01
mp = module_periods(q, lp)
assert mp["mode"].tolist() == [1, 4]

fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 2.5))
a1.bar([str(c) for c in lp.candidates], mp["weights"][1])
a1.set_title("w(p) of the period-4 module", fontsize=9)
a2.step(np.arange(24), alpha, where="mid")
a2.set_title("its expected clock alpha_t", fontsize=9)
a2.set_xlabel("step t")
finish(fig, "learned_periods")

# %% [markdown]
# ## 3. The gradients are hand-derived, and audited
#
# The backward passes (SB1–SB9 and PB1–PB10 in `docs/variants.md`) include the gradients with
# respect to the selection weights $W_S, b_S$ and the clock's $\mu, \rho$ (with
# $\sigma = \tau\,\mathrm{softplus}(\rho)$). The audit compares every entry with sixth-order
# finite differences in float64.

# %%
assert gradcheck_select(p_sel, sel, x).passed(1e-6)
report = gradcheck_periods(q, lp, x)
assert report.passed(1e-6), report
emitted = LearnedPeriodSpec(base, [1, 2, 3, 4, 6, 8], form="emitted", sigma_init=0.5)
q_e = init_period_params(emitted, rng)
q_e["W_mu"] = 0.3 * rng.standard_normal(q_e["W_mu"].shape)   # let the state move the clock
assert gradcheck_periods(q_e, emitted, x).passed(1e-6)

# %% [markdown]
# ## 4. Back to a hard clock
#
# As the temperature (a factor on every σ) goes to zero, each distribution becomes one-hot on
# the candidate nearest $e^{\mu_i}$, $\alpha$ becomes the ordinary clock, and the soft network
# *is* a CW-RNN. `harden` returns that CW-RNN, which runs on the kernels that skip inactive
# modules again.

# %%
cold_lp = lp.replace(temperature=1e-3)
y_cold, _ = forward_periods(q, cold_lp, x)
hard_spec, hard_params = harden(q, cold_lp)
y_hard, _ = cw.forward(hard_params, hard_spec, x)
assert hard_spec.periods == (1, 4)
assert np.allclose(y_cold, y_hard, rtol=0, atol=1e-12)
print("hardened periods:", hard_spec.periods, "max |soft - hard|:", np.abs(y_cold - y_hard).max())

# %% [markdown]
# Both variants train like any CW-RNN: `cwrnn train hold --set model.variant=learned-static`,
# `cwrnn train regimes --set model.variant=select`, and `cwrnn harden RUN` after a learned-period
# run. The demonstrations `cwrnn experiment learned-periods` and `cwrnn experiment
# soft-selection` measure what they learn (`docs/experiments/`).
