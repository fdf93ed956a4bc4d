"""Soft selection among same-clock modules (cwrnn_np.models.selection): gradients, backends,
invariants, errors.

Hand-derived BPTT (SB1–SB9) against float64 finite differences (relative error <= 1e-6, the
project's audit standard) on Hypothesis-drawn selection specs for both backends; the Numba
kernels against the NumPy reference (norm-wise relative 1e-12, as tests/test_numba_backend.py
explains: an entry that is a small difference of large terms can differ by a few ulp of the
terms); the exact invariants (held modules, the selection's simplex, hard selection is the
CW-RNN, chunked runs, structural zeros); and bad input.

Gradients are compared as one vector, at the scale max|g| over every gradient array. The
selection bias gradient shows why: b_S of a group sums the logit gradients
g * (dg - <g, dg>) / tau over steps and batch rows, terms of size ~0.1 that can cancel to ~1e-4,
and with K = 2 its two entries are each other's negatives, so b_S is no scale for itself.
Against an 80-bit long-double evaluation both backends were off by ~5e-13 of max|b_S| on such
draws: the limit is the conditioning of that sum, not the kernel.

Specs are drawn two ways: :func:`cwrnn_np.models.selection.group_modules` on a drawn CW-RNN (every
module copied K times), and explicit ``SelectionSpec(base, groups, temperature)`` with groups
and ungrouped modules in a shuffled order. Periods 1–5 (3, 4, 5 do not divide each other),
phases, t0 offsets, lengths drawn independently of the periods, resets, learned h_0, the
"clockwork" and "full" presets and random wiring, temperatures 0.3–3, fan-in-scaled weights so
that tanh does not saturate.
"""
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cwrnn_np as cw
from cwrnn_np.models.selection import (SELECT_BACKENDS, SelectionCache, SelectionSpec, backward_select,
                                forward_select, gradcheck_select, group_modules,
                                init_select_params)
from strategies import assert_agrees, check_chunked_equals_whole, examples

TOL = 1e-6
RTOL64 = 1e-12
RTOL32 = 1e-3                   # the float64 bound times eps32 / eps64 (5e8), rounded up
PERIODS = [1, 2, 3, 4, 5]
ROOT = pathlib.Path(__file__).resolve().parents[1]


# ----- strategies -----------------------------------------------------------------------------

def _connectivity(n):
    """The "clockwork" and "full" presets, or a random (n, n) boolean matrix."""
    return st.one_of(st.sampled_from(["clockwork", "full"]),
                     st.lists(st.lists(st.booleans(), min_size=n, max_size=n),
                              min_size=n, max_size=n).map(lambda m: np.array(m, dtype=bool)))


def _routing(n):
    return st.one_of(st.sampled_from(["all", "fastest"]),
                     st.lists(st.booleans(), min_size=n, max_size=n))


@st.composite
def _clock(draw):
    """(period, phase) with period 1-5 and 0 <= phase < period."""
    T = draw(st.sampled_from(PERIODS))
    return T, draw(st.integers(0, T - 1))


def _base_spec(draw, sizes, clocks, learn_h0):
    n = len(sizes)
    if learn_h0 is None:
        learn_h0 = draw(st.booleans())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cw.UnreachableModuleWarning)
        return cw.ClockworkSpec(draw(st.integers(0, 2)), draw(st.integers(1, 2)), sizes,
                                [T for T, _ in clocks], [phi for _, phi in clocks],
                                draw(_connectivity(n)), draw(_routing(n)), learn_h0)


@st.composite
def grouped_specs(draw, learn_h0=None):
    """:func:`group_modules` on a drawn CW-RNN of 1-2 modules, each copied 2-3 times."""
    n = draw(st.integers(1, 2))
    sizes = draw(st.lists(st.integers(1, 2), min_size=n, max_size=n))
    clocks = [draw(_clock()) for _ in range(n)]
    base = _base_spec(draw, sizes, clocks, learn_h0)
    K = draw(st.integers(2, 3 if n == 1 else 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cw.UnreachableModuleWarning)
        return group_modules(base, K, draw(st.floats(0.3, 3.0)))


@st.composite
def explicit_specs(draw, learn_h0=None):
    """``SelectionSpec(base, groups, temperature)``: 1-2 groups of 2-3 modules sharing a drawn
    clock, 0-2 ungrouped modules (whose clocks may equal a group's), in a shuffled order."""
    members, clocks = [], []                     # per slot: group id (-1 ungrouped), clock
    for q in range(draw(st.integers(1, 2))):
        clock = draw(_clock())
        for _ in range(draw(st.integers(2, 3))):
            members.append(q)
            clocks.append(clock)
    for _ in range(draw(st.integers(0, 2))):
        members.append(-1)
        clocks.append(draw(_clock()))
    order = draw(st.permutations(range(len(members))))    # module m is slot order[m]
    members = [members[s] for s in order]
    clocks = [clocks[s] for s in order]
    sizes = draw(st.lists(st.integers(1, 2), min_size=len(members), max_size=len(members)))
    base = _base_spec(draw, sizes, clocks, learn_h0)
    groups = [[m for m, q in enumerate(members) if q == g] for g in range(max(members) + 1)]
    return SelectionSpec(base, groups, draw(st.floats(0.3, 3.0)))


def selection_specs(learn_h0=None):
    return st.one_of(grouped_specs(learn_h0), explicit_specs(learn_h0))


def random_select_params(spec, rng, dtype=np.float64, scales=(0.5, 1.2)):
    """Bounded random parameters: fan-in-scaled weights (scale drawn from ``scales``) and small
    non-zero biases and h_0, so neither tanh nor the softmax saturates."""
    params = init_select_params(spec, rng, dtype=dtype, scale=float(rng.uniform(*scales)))
    params["b_H"] = (0.3 * rng.standard_normal(spec.hidden_size)).astype(dtype)
    params["b_O"] = (0.3 * rng.standard_normal(spec.output_size)).astype(dtype)
    params["b_S"] = (0.5 * rng.standard_normal(len(spec.select_modules))).astype(dtype)
    if spec.learn_h0:
        params["h_0"] = (0.5 * rng.standard_normal(spec.hidden_size)).astype(dtype)
    return params


@st.composite
def select_problems(draw, spec_strategy=None, max_len=9, with_h_init=None, dtype=np.float64,
                    scales=(0.5, 1.2)):
    """A dict: spec, params (weight scale drawn from ``scales``), x (L 1-9, B 1-2), h_init or
    None, t0 0-12, resets, dy, dh_last, seed."""
    spec = draw(spec_strategy if spec_strategy is not None else selection_specs())
    L = draw(st.integers(1, max_len))
    B = draw(st.integers(1, 2))
    t0 = draw(st.integers(0, 12))
    resets = sorted(draw(st.lists(st.integers(0, L - 1), max_size=2, unique=True)))
    if with_h_init is None:
        with_h_init = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    params = random_select_params(spec, rng, dtype, scales)
    H = spec.hidden_size
    x = rng.standard_normal((L, B, spec.input_size)).astype(dtype)
    h_init = (0.5 * rng.standard_normal((B, H))).astype(dtype) if with_h_init else None
    # upstream gradients: standard normal, never all ones
    dy = rng.standard_normal((L, B, spec.output_size)).astype(dtype)
    dh_last = rng.standard_normal((B, H)).astype(dtype)
    return dict(spec=spec, params=params, x=x, h_init=h_init, t0=t0, resets=resets, dy=dy,
                dh_last=dh_last, seed=seed)


def run(problem, backend, dh_last=None):
    """Forward and backward on one backend: (y, cache, grads)."""
    y, cache = forward_select(problem["params"], problem["spec"], problem["x"],
                              problem["h_init"], problem["t0"], problem["resets"],
                              backend=backend)
    grads = backward_select(problem["params"], problem["spec"], problem["dy"], cache, dh_last,
                            backend=backend)
    return y, cache, grads


def test_the_backend_fixture_covers_every_selection_backend():
    from conftest import BACKEND_NAMES
    assert sorted(SELECT_BACKENDS) == BACKEND_NAMES


# ----- gradients against finite differences --------------------------------------------------

@pytest.mark.slow
@settings(max_examples=examples(25))
@given(problem=select_problems())
def test_gradcheck_select_on_drawn_specs(backend, problem):
    """Element-wise and random-direction checks on every parameter, x and h_init (given or
    not), with a random upstream gradient on y and on the last state."""
    report = gradcheck_select(problem["params"], problem["spec"], problem["x"],
                              h_init=problem["h_init"], t0=problem["t0"],
                              resets=problem["resets"], backend=backend,
                              rng=np.random.default_rng(problem["seed"]))
    assert report.n_checked > 0 and len(report.directions) == 3
    assert {"W_S", "b_S"} <= set(report.per_name)
    assert report.passed(TOL), f"{problem['spec']}\n{report}"


@settings(max_examples=examples(10))
@given(problem=select_problems(spec_strategy=selection_specs(learn_h0=True), with_h_init=False))
def test_gradcheck_select_learned_h0_through_resets(backend, problem):
    """h_0 is both the initial state and the reset state: both paths carry its gradient."""
    resets = sorted(set(problem["resets"]) | {len(problem["x"]) // 2})
    report = gradcheck_select(problem["params"], problem["spec"], problem["x"],
                              t0=problem["t0"], resets=resets, backend=backend,
                              rng=np.random.default_rng(problem["seed"]))
    assert "h_0" in report.per_name
    assert report.passed(TOL), f"{problem['spec']}\n{report}"


def test_gradcheck_select_catches_a_wrong_gradient(monkeypatch):
    """The audit can fail: a selection-weight gradient off by 0.1% in one entry is caught and
    named."""
    fwd, bwd = SELECT_BACKENDS["numpy"]

    def wrong_backward(params, spec, dy, cache, dh_last=None):
        grads = bwd(params, spec, dy, cache, dh_last)
        grads["W_S"] = grads["W_S"].copy()
        grads["W_S"][1, 2] *= 1.001
        return grads

    monkeypatch.setitem(SELECT_BACKENDS, "wrong", (fwd, wrong_backward))
    rng = np.random.default_rng(5)
    base = cw.ClockworkSpec(2, 1, [2, 1], [1, 2])
    spec = group_modules(base, 2)
    params = random_select_params(spec, rng)
    x = rng.standard_normal((7, 1, 2))
    report = gradcheck_select(params, spec, x, h_init=0.5 * rng.standard_normal((1, 6)),
                              backend="wrong", mode="elementwise")
    assert not report.passed(TOL)
    assert report.worst[0] == "W_S" and report.worst[1] == (1, 2)
    assert 5e-4 < report.max_rel_error < 2e-3
    assert "W_S[1, 2]" in str(report)


# ----- the Numba kernels against the NumPy reference ------------------------------------------

def assert_backends_agree(problem, dh_last, rtol):
    out = {backend: run(problem, backend, dh_last) for backend in ("numpy", "numba")}
    (y0, c0, g0), (y1, c1, g1) = out["numpy"], out["numba"]
    assert isinstance(c1, SelectionCache) and (c0.backend, c1.backend) == ("numpy", "numba")
    assert_agrees("y", y1, y0, rtol)
    for field in ("h", "th", "g"):
        assert_agrees(field, getattr(c1, field), getattr(c0, field), rtol)
    assert_agrees("h_last", c1.h_last, c0.h_last, rtol)
    # the cache's other fields are exactly the reference's
    for field in ("h_init", "r", "active", "reset", "x"):
        a, b = getattr(c1, field), getattr(c0, field)
        assert np.array_equal(a, b) and a.dtype == b.dtype, field
    assert (c1.t0, c1.h_init_given) == (c0.t0, c0.h_init_given)
    # inactive units: tanh and selection exactly zero in both (never computed by the kernel)
    assert np.array_equal(c1.th == 0, c0.th == 0) and np.array_equal(c1.g == 0, c0.g == 0)
    assert sorted(g1) == sorted(g0)
    # the gradient is one vector: compared at max|g| over all of it (as in
    # tests/test_learned_periods.py), so a cancelled sum such as b_S is not its own scale
    scale = max(float(np.max(np.abs(g))) for g in g0.values() if g.size)
    for name in g0:
        assert_agrees(name, g1[name], g0[name], rtol, scale)
    # either backend's cache works with either backward
    for backend, cache in (("numpy", c1), ("numba", c0)):
        grads = backward_select(problem["params"], problem["spec"], problem["dy"], cache,
                                dh_last, backend=backend)
        for name in g0:
            assert_agrees(f"{name} ({backend} backward, other cache)", grads[name], g0[name],
                          rtol, scale)
    return out


@settings(max_examples=examples(150))
@given(problem=select_problems(), with_dh_last=st.booleans())
def test_select_numba_matches_numpy_float64(problem, with_dh_last):
    """Outputs, cache, last state and every gradient agree to 1e-12 on drawn specs."""
    assert_backends_agree(problem, problem["dh_last"] if with_dh_last else None, RTOL64)


@pytest.mark.slow
@settings(max_examples=examples(40))
@given(problem=select_problems(dtype=np.float32, scales=(0.25, 0.6)), with_dh_last=st.booleans())
def test_select_numba_matches_numpy_float32(problem, with_dh_last):
    """float32 stays float32 end to end and agrees to float32 rounding (RTOL32).

    Near saturation 1 - tanh(a)^2 keeps few of float32's 24 bits (one ulp of tanh moves it by
    1e-3 of itself at |a| ~ 4.5), so this comparison draws smaller weights than the float64
    one: at scales 0.5-1.2 the two float32 computations differed by up to 1.6e-3 of max|want|
    in 4,000 problems (both ~1e-3 away from the float64 result there), at 0.25-0.6 by at most
    1e-4."""
    out = assert_backends_agree(problem, problem["dh_last"] if with_dh_last else None, RTOL32)
    y, cache, grads = out["numba"]
    assert y.dtype == cache.h.dtype == cache.g.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_select_numba_matches_numpy_on_wide_shapes():
    """Larger than the drawn shapes: B 5, D 7, O 4, L 41, three groups of 2-4 modules of
    sizes 1-6 among ungrouped ones, periods 1-7, phases, random wiring, h_0, resets."""
    rng = np.random.default_rng(1)
    sizes = [3, 6, 2, 1, 4, 5, 2, 3, 1, 4]
    periods = [1, 3, 1, 5, 3, 7, 5, 3, 2, 5]
    phases = [0, 1, 0, 2, 1, 0, 2, 1, 1, 2]
    C = rng.random((10, 10)) < 0.6
    base = cw.ClockworkSpec(7, 4, sizes, periods, phases, C, "all", learn_h0=True)
    spec = SelectionSpec(base, [[1, 4, 7], [0, 2], [3, 6, 9]], 0.8)
    params = random_select_params(spec, rng)
    problem = dict(spec=spec, params=params, x=rng.standard_normal((41, 5, 7)),
                   h_init=0.5 * rng.standard_normal((5, base.hidden_size)), t0=4,
                   resets=[3, 20], dy=rng.standard_normal((41, 5, 4)))
    assert_backends_agree(problem, rng.standard_normal((5, base.hidden_size)), RTOL64)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="no signatures without JIT")
def test_select_numba_compiles_one_signature_per_dtype():
    """The wrappers pass the kernels named tuples of C-contiguous arrays of fixed kinds, so each
    kernel compiles once per dtype (float64 and float32 here)."""
    from cwrnn_np.models.selection import kernels
    rng = np.random.default_rng(2)
    base = cw.ClockworkSpec(9, 3, (2, 2, 3), (1, 1, 2), learn_h0=True)
    spec = SelectionSpec(base, [[0, 1]], 0.8)
    for dtype, B in ((np.float64, 1), (np.float32, 5), (np.float64, 4)):
        params = random_select_params(spec, rng, dtype=dtype)
        x = rng.standard_normal((6, B, 9)).astype(dtype)
        y, cache = forward_select(params, spec, x, None, 1, [3], backend="numba")
        backward_select(params, spec, rng.standard_normal(y.shape).astype(dtype), cache,
                        rng.standard_normal((B, 7)).astype(dtype), backend="numba")
    for kernel in (kernels.select_forward_kernel, kernels.select_backward_kernel):
        assert len(kernel.signatures) <= 2, kernel.signatures


# ----- invariants -----------------------------------------------------------------------------

def _state_entering(cache, t):
    """(B, H) the state step t read: r after a reset, else h_init or h_{t-1}."""
    if cache.reset[t]:
        return np.broadcast_to(cache.r, cache.h_init.shape)
    return cache.h_init if t == 0 else cache.h[t - 1]


@settings(max_examples=examples(40))
@given(problem=select_problems())
def test_inactive_modules_are_held_bitwise(backend, problem):
    """Where the clock does not fire, a module's state is exactly the one it read, and its
    tanh is exactly zero."""
    spec = problem["spec"]
    _, cache, _ = run(problem, backend)
    L = len(problem["x"])
    active = spec.base.active_units(L, problem["t0"])               # (L, H)
    assert np.array_equal(cache.active, active)
    for t in range(L):
        held = ~active[t]
        assert np.array_equal(cache.h[t][:, held], _state_entering(cache, t)[:, held]), t
        assert np.all(cache.th[t][:, held] == 0), t


@settings(max_examples=examples(40))
@given(problem=select_problems())
def test_selection_is_a_distribution_over_each_active_group(backend, problem):
    """g sums to 1 over each active group's rows, is positive there, and is exactly 0 for a
    group whose clock does not fire."""
    spec = problem["spec"]
    _, cache, _ = run(problem, backend)
    active_mod = spec.base.active(len(problem["x"]), problem["t0"])   # (L, n)
    for q, group in enumerate(spec.groups):
        rows = slice(spec.group_ptr[q], spec.group_ptr[q + 1])
        on = active_mod[:, group[0]]                                  # (L,)
        gq = cache.g[:, :, rows]                                      # (L, B, K)
        np.testing.assert_allclose(gq[on].sum(axis=-1), 1.0, rtol=0, atol=8e-16)
        assert np.all(gq[on] > 0)
        assert np.all(gq[~on] == 0)


@settings(max_examples=examples(25))
@given(spec=grouped_specs(learn_h0=False), data=st.data())
def test_hard_selection_of_copies_is_the_plain_clockwork_rnn(backend, spec, data):
    """With W_S = 0, b_S one-hot and temperature 1e-3, exp(-1000) underflows and g is exactly
    one-hot: the chosen copy of each module updates as the CW-RNN does (u = 1), the others
    (u = 0) are held at their zero start. The outputs, states and gradients are then those of
    :func:`cwrnn_np.forward` / :func:`cwrnn_np.backward` on the CW-RNN of the chosen copies
    (their wiring among themselves, their weights), and no gradient reaches the selection."""
    spec = spec.replace(temperature=1e-3)
    problem = data.draw(select_problems(spec_strategy=st.just(spec), with_h_init=False))
    base, params = spec.base, problem["params"]
    K = len(spec.groups[0])
    n = base.n_modules // K
    chosen = [K * i + data.draw(st.integers(0, K - 1), label=f"copy of module {i}")
              for i in range(n)]
    params["W_S"] = np.zeros_like(params["W_S"])
    params["b_S"] = np.zeros_like(params["b_S"])
    params["b_S"][chosen] = 1.0                      # row s scores module s (group_modules)
    units = np.concatenate([np.arange(base.offsets[m], base.offsets[m + 1]) for m in chosen])
    others = np.setdiff1d(np.arange(base.hidden_size), units)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cw.UnreachableModuleWarning)
        plain = cw.ClockworkSpec(base.input_size, base.output_size,
                                 [base.module_sizes[m] for m in chosen],
                                 [base.periods[m] for m in chosen],
                                 [base.phases[m] for m in chosen],
                                 base.C[np.ix_(chosen, chosen)],
                                 [bool(base.R[m]) for m in chosen])
    plain_params = {"W_I": params["W_I"][units], "W_H": params["W_H"][np.ix_(units, units)],
                    "b_H": params["b_H"][units], "W_O": params["W_O"][:, units],
                    "b_O": params["b_O"]}

    y, cache, grads = run(problem, backend, problem["dh_last"])
    assert set(np.unique(cache.g)) <= {0.0, 1.0}
    assert np.all(cache.h[:, :, others] == 0)
    y_p, cache_p = cw.forward(plain_params, plain, problem["x"], t0=problem["t0"],
                              resets=problem["resets"], backend=backend)
    grads_p = cw.backward(plain_params, plain, problem["dy"], cache_p,
                          problem["dh_last"][:, units], backend=backend)
    assert_agrees("y", y, y_p, RTOL64)
    assert_agrees("h", cache.h[:, :, units], cache_p.h, RTOL64)
    assert_agrees("grad W_I", grads["W_I"][units], grads_p["W_I"], RTOL64)
    assert_agrees("grad W_H", grads["W_H"][np.ix_(units, units)], grads_p["W_H"], RTOL64)
    for name in ("b_H", "W_O"):
        assert_agrees(f"grad {name}", grads[name][..., units], grads_p[name], RTOL64)
    for name in ("b_O", "x"):
        assert_agrees(f"grad {name}", grads[name], grads_p[name], RTOL64)
    # the held copies never moved, so their weights get no gradient; nor does the selection
    assert np.all(grads["W_I"][others] == 0) and np.all(grads["W_H"][others] == 0)
    assert np.all(grads["b_H"][others] == 0)
    assert np.all(grads["W_S"] == 0) and np.all(grads["b_S"] == 0)


@settings(max_examples=examples(40))
@given(problem=select_problems(), cut=st.integers(1, 8))
def test_select_chunked_run_equals_whole_run(backend, problem, cut):
    """Forward in two chunks (carrying cache.h_last, t0 + L1) gives the whole run's outputs and
    state; backward in two chunks (carrying grads["h_init"] as dh_last) gives its gradients."""
    check_chunked_equals_whole(forward_select, backward_select, problem, cut, backend, fields=("g",),
                               bitwise=("y", "h_last"))


@settings(max_examples=examples(40))
@given(problem=select_problems())
def test_structural_zeros_get_zero_gradient_and_change_nothing(backend, problem):
    """Masked entries of W_I and W_H get exactly zero gradient, and changing them changes
    neither the outputs nor any gradient (bitwise)."""
    spec = problem["spec"]
    y, cache, grads = run(problem, backend, problem["dh_last"])
    M_I, M_H = spec.base.M_I, spec.base.M_H
    assert np.all(grads["W_I"][~M_I] == 0) and np.all(grads["W_H"][~M_H] == 0)
    noisy = dict(problem["params"])
    noisy["W_I"] = np.where(M_I, noisy["W_I"], 7.0)
    noisy["W_H"] = np.where(M_H, noisy["W_H"], -7.0)
    y2, cache2, grads2 = run({**problem, "params": noisy}, backend, problem["dh_last"])
    assert np.array_equal(y2, y) and np.array_equal(cache2.g, cache.g)
    for name in grads:
        assert np.array_equal(grads2[name], grads[name]), name


# ----- bad input --------------------------------------------------------------------------------

BASE = cw.ClockworkSpec(2, 1, [2, 1, 1, 2], [2, 2, 3, 2], [1, 1, 0, 0])


@pytest.mark.parametrize("groups, temperature, match", [
    ([[0]], 1.0, r"groups\[0\] must have at least 2 modules"),
    ([[0, 1], [3]], 1.0, r"groups\[1\] must have at least 2 modules"),
    ([[0, 2]], 1.0, r"groups\[0\] .* mixes clocks"),
    ([[0, 3]], 1.0, r"groups\[0\] .* mixes clocks"),           # same period, other phase
    ([[0, 1, 1]], 1.0, r"groups\[0\]: module 1 is in more than one group"),
    ([[0, 1], [1, 0]], 1.0, r"groups\[1\]: module 1 is in more than one group"),
    ([[0, 4]], 1.0, r"groups\[0\] entries must be module indices in 0..3"),
    ([[-1, 0]], 1.0, r"groups\[0\] entries must be module indices"),
    ([[0, True]], 1.0, r"groups\[0\] entries must be module indices"),
    ([], 1.0, "groups must list at least one group"),
    (5, 1.0, "groups must be a list of lists"),
    ([[0, 1]], 0.0, "temperature must be a finite number > 0"),
    ([[0, 1]], -1.0, "temperature"),
    ([[0, 1]], float("inf"), "temperature"),
    ([[0, 1]], True, "temperature"),
])
def test_bad_selection_spec_names_the_field(groups, temperature, match):
    with pytest.raises(ValueError, match=match):
        SelectionSpec(BASE, groups, temperature)


def test_selection_spec_needs_a_clockwork_base():
    with pytest.raises(ValueError, match="base must be a ClockworkSpec"):
        SelectionSpec("cwrnn", [[0, 1]])


def _good():
    spec = SelectionSpec(BASE, [[0, 1]], 0.5)
    params = init_select_params(spec, np.random.default_rng(0))
    return spec, params, np.zeros((5, 2, 2))


@pytest.mark.parametrize("call, match", [
    (lambda s, p, x: forward_select({**p, "W_S": np.zeros((3, 8))}, s, x), "W_S"),
    (lambda s, p, x: forward_select({**p, "b_S": np.zeros(3)}, s, x), "b_S"),
    (lambda s, p, x: forward_select({k: v for k, v in p.items() if k != "W_S"}, s, x),
     "missing"),
    (lambda s, p, x: forward_select(p, s.base, x), "spec must be a SelectionSpec"),
    (lambda s, p, x: forward_select(p, s, x, backend="torch"), "backend"),
    (lambda s, p, x: forward_select(p, s, np.zeros((5, 2, 3))), "x"),
    (lambda s, p, x: forward_select(p, s, x, h_init=np.zeros((2, 5))), "h_init"),
    (lambda s, p, x: forward_select(p, s, x, t0=-1), "t0"),
    (lambda s, p, x: forward_select(p, s, x, resets=[5]), "resets"),
])
def test_bad_forward_input_names_the_field(call, match):
    spec, params, x = _good()
    with pytest.raises(ValueError, match=match):
        call(spec, params, x)


def test_bad_backward_input_names_the_field():
    spec, params, x = _good()
    y, cache = forward_select(params, spec, x, backend="numpy")
    with pytest.raises(ValueError, match="SelectionCache"):
        backward_select(params, spec, y, tuple(cache))
    _, cw_cache = cw.forward({k: v for k, v in params.items() if k not in ("W_S", "b_S")},
                             spec.base, x, backend="numpy")
    with pytest.raises(ValueError, match="SelectionCache"):
        backward_select(params, spec, y, cw_cache)
    with pytest.raises(ValueError, match="backend"):
        backward_select(params, spec, y, cache, backend="torch")
    with pytest.raises(ValueError, match="dy"):
        backward_select(params, spec, y[:, :, :0], cache)
    with pytest.raises(ValueError, match="dh_last"):
        backward_select(params, spec, y, cache, dh_last=np.zeros((2, 5)))
