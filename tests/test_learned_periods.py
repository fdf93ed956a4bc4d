"""Learned clock periods (cwrnn_np.models.learned_periods): gradients, backends, invariants, errors.

The design note's "let the RNN emit a Gaussian distribution over time periods", in its static
and emitted forms. Hand-derived BPTT (PB1–PB10) against float64 finite differences (relative
error <= 1e-6, the project's audit standard) on Hypothesis-drawn specs for both backends; the
Numba kernels against the NumPy reference (norm-wise relative 1e-12, as
tests/test_numba_backend.py explains), caches included and exchanged; the expected clock and
the period distributions; chunked runs equal whole runs; structural zeros; hardening to an
ordinary CW-RNN; and bad input.
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
from cwrnn_np import learned_periods as lp
from cwrnn_np.models.learned_periods import (FORMS, PERIOD_BACKENDS, LearnedPeriodSpec, PeriodCache,
                                      backward_periods, forward_periods, gradcheck_periods,
                                      harden, init_period_params, module_periods)
from strategies import assert_agrees, check_chunked_equals_whole, examples, random_params

TOL = 1e-6
RTOL64 = 1e-12
RTOL32 = 1e-4
PERIOD_BACKEND_NAMES = sorted(PERIOD_BACKENDS)
ROOT = pathlib.Path(__file__).resolve().parents[1]
CLOCK_PARAMS = {"static": ("mu", "rho"), "emitted": ("W_mu", "b_mu", "W_rho", "b_rho")}
CACHE_ARRAYS = ("h", "th", "mu", "rho", "sigma", "alpha", "w")


# ----- strategies -----------------------------------------------------------------------------

@st.composite
def period_specs(draw, form=None, learn_h0=None, temperature=None):
    """A LearnedPeriodSpec: 1-4 modules of 1-3 units, base periods 1-6 (phases 0), wiring a
    preset or a random boolean matrix, routing, D 0-3, O 1-3, candidates a subset of 1..8 with
    at least two entries (non-powers of two included) or the default, sigma_init 0.3-1.5,
    temperature 0.5-2."""
    n = draw(st.integers(1, 4))
    sizes = draw(st.lists(st.integers(1, 3), min_size=n, max_size=n))
    periods = draw(st.lists(st.integers(1, 6), min_size=n, max_size=n))
    connectivity = draw(st.one_of(
        st.sampled_from(["clockwork", "full"]),
        st.lists(st.lists(st.booleans(), min_size=n, max_size=n),
                 min_size=n, max_size=n).map(lambda m: np.array(m, dtype=bool))))
    routing = draw(st.one_of(st.sampled_from(["all", "fastest"]),
                             st.lists(st.booleans(), min_size=n, max_size=n)))
    if learn_h0 is None:
        learn_h0 = draw(st.booleans())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cw.UnreachableModuleWarning)
        base = cw.ClockworkSpec(draw(st.integers(0, 3)), draw(st.integers(1, 3)), sizes,
                                periods, None, connectivity, routing, learn_h0)
    candidates = draw(st.one_of(
        st.none(), st.lists(st.integers(1, 8), min_size=2, max_size=5, unique=True)))
    return LearnedPeriodSpec(
        base, candidates, form if form is not None else draw(st.sampled_from(FORMS)),
        sigma_init=draw(st.floats(0.3, 1.5)),
        temperature=temperature if temperature is not None else draw(st.floats(0.5, 2.0)))


def random_period_params(spec, rng, dtype=np.float64):
    """Bounded random parameters: the base CW-RNN's (tests/strategies.py) plus the clock's,
    centred on :func:`init_period_params` (log base periods, sigma_init) with noise; in the
    emitted form W_mu, W_rho are non-zero but small (0.4 / sqrt(H)), so σ stays about
    0.1-2 and the clock really depends on the state."""
    params = random_params(spec.base, rng, dtype)
    n, H = spec.n_modules, spec.hidden_size
    mu0 = np.log(np.asarray(spec.periods, np.float64)) + 0.3 * rng.standard_normal(n)
    rho0 = np.log(np.expm1(spec.sigma_init)) + 0.3 * rng.standard_normal(n)
    if spec.form == "static":
        params.update(mu=mu0.astype(dtype), rho=rho0.astype(dtype))
    else:
        scale = 0.4 / np.sqrt(H)
        params.update(W_mu=(scale * rng.standard_normal((n, H))).astype(dtype),
                      b_mu=mu0.astype(dtype),
                      W_rho=(scale * rng.standard_normal((n, H))).astype(dtype),
                      b_rho=rho0.astype(dtype))
    return params


@st.composite
def period_problems(draw, spec_strategy=None, max_len=9, with_h_init=None, dtype=np.float64):
    """A dict: spec, params, x (L 1-9, B 1-3), h_init or None, t0 0-20, resets, dy, dh_last,
    seed. L is drawn apart from the periods, so mostly not a multiple of any of them."""
    spec = draw(spec_strategy if spec_strategy is not None else period_specs())
    L = draw(st.integers(1, max_len))
    B = draw(st.integers(1, 3))
    t0 = draw(st.integers(0, 20))
    resets = sorted(draw(st.lists(st.integers(0, L - 1), max_size=3, unique=True)))
    if with_h_init is None:
        with_h_init = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    params = random_period_params(spec, rng, dtype)
    H = spec.hidden_size
    x = rng.standard_normal((L, B, spec.input_size)).astype(dtype)
    h_init = (0.5 * rng.standard_normal((B, H))).astype(dtype) if with_h_init else None
    # upstream gradients: standard normal, never all ones
    dy = rng.standard_normal((L, B, spec.output_size)).astype(dtype)
    dh_last = rng.standard_normal((B, H)).astype(dtype)
    return dict(spec=spec, params=params, x=x, h_init=h_init, t0=t0, resets=resets, dy=dy,
                dh_last=dh_last, seed=seed)


def fixed_problem(form, learn_h0=True, seed=0):
    """Three modules (1, 2, 1 units), periods 1, 3, 5, candidates 1, 2, 3, 5, 6, wired by the
    clockwork preset, input to all: small enough for a full element-wise audit."""
    rng = np.random.default_rng(seed)
    base = cw.ClockworkSpec(2, 2, [1, 2, 1], [1, 3, 5], learn_h0=learn_h0)
    spec = LearnedPeriodSpec(base, [1, 2, 3, 5, 6], form, sigma_init=0.7, temperature=0.9)
    params = random_period_params(spec, rng)
    x = rng.standard_normal((7, 2, 2))
    h_init = 0.5 * rng.standard_normal((2, 4))
    return spec, params, x, h_init


# ----- gradients against finite differences --------------------------------------------------

def test_period_backends_match_the_backend_fixture():
    """The same backend names as the CW-RNN, so the session ``backend`` fixture covers both."""
    assert set(PERIOD_BACKENDS) == set(cw.BACKENDS) == {"numpy", "numba"}


@pytest.mark.slow
@settings(max_examples=examples(40))
@given(problem=period_problems())
def test_gradcheck_periods_on_drawn_specs(backend, problem):
    """Sampled element-wise entries of every array (parameters, x, h_init) and three random
    directions, both forms, with t0 offsets and resets."""
    spec = problem["spec"]
    report = gradcheck_periods(problem["params"], spec, problem["x"], h_init=problem["h_init"],
                               t0=problem["t0"], resets=problem["resets"], backend=backend,
                               rng=np.random.default_rng(problem["seed"]), max_entries=4)
    assert set(CLOCK_PARAMS[spec.form]) <= set(report.per_name)
    assert report.n_checked > 0 and len(report.directions) == 3
    assert report.passed(TOL), f"{spec}\n{report}"


@settings(max_examples=examples(20))
@given(problem=period_problems(spec_strategy=period_specs(learn_h0=True), with_h_init=False))
def test_gradcheck_periods_learned_h0_through_resets(backend, problem):
    """h_0 is both the initial state and the reset state: both paths carry its gradient, in
    the emitted form also through the clock it emits from the reset state."""
    resets = sorted(set(problem["resets"]) | {len(problem["x"]) // 2})
    report = gradcheck_periods(problem["params"], problem["spec"], problem["x"],
                               t0=problem["t0"], resets=resets, backend=backend,
                               rng=np.random.default_rng(problem["seed"]), max_entries=4)
    assert "h_0" in report.per_name
    assert report.passed(TOL), f"{problem['spec']}\n{report}"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("h_init_given", [True, False])
def test_gradcheck_periods_every_entry(backend, form, h_init_given):
    """Every entry of every parameter, x and h_init, on a fixed small problem with t0 = 5 and
    a reset: the clock's parameters mu, rho (static) or W_mu, b_mu, W_rho, b_rho (emitted)."""
    spec, params, x, h_init = fixed_problem(form)
    report = gradcheck_periods(params, spec, x, h_init=h_init if h_init_given else None, t0=5,
                               resets=[3], backend=backend, mode="elementwise")
    names = set(CLOCK_PARAMS[form]) | {"W_I", "W_H", "b_H", "W_O", "b_O", "h_0", "x"}
    assert names | ({"h_init"} if h_init_given else set()) == set(report.per_name)
    assert report.passed(TOL), f"{spec}\n{report}"
    # not a vacuous audit: the clock's parameters carry real gradient here
    y, cache = forward_periods(params, spec, x, t0=5, resets=[3], backend=backend)
    grads = backward_periods(params, spec, np.random.default_rng(1).standard_normal(y.shape),
                             cache, backend=backend)
    assert all(np.max(np.abs(grads[k])) > 1e-3 for k in CLOCK_PARAMS[form]), grads


def test_gradcheck_periods_catches_a_wrong_gradient(monkeypatch):
    """The audit can fail: a rho gradient off by 0.1% in one entry is caught and named."""
    fwd, bwd = PERIOD_BACKENDS["numpy"]

    def wrong_backward(params, spec, dy, cache, dh_last=None):
        grads = bwd(params, spec, dy, cache, dh_last)
        grads["rho"] = grads["rho"].copy()
        grads["rho"][1] *= 1.001
        return grads

    monkeypatch.setitem(PERIOD_BACKENDS, "wrong", (fwd, wrong_backward))
    spec, params, x, h_init = fixed_problem("static")
    report = gradcheck_periods(params, spec, x, h_init=h_init, t0=5, backend="wrong",
                               mode="elementwise")
    assert not report.passed(TOL)
    assert report.worst[0] == "rho" and report.worst[1] == (1,)
    assert 5e-4 < report.max_rel_error < 2e-3
    assert "rho[1]" in str(report)


# ----- the Numba kernels against the NumPy reference ------------------------------------------

def gradient_scale(grads):
    """The scale every gradient array is compared at: max|g| over the whole gradient (every
    parameter, x and h_init), not each array's own.

    The clock's gradients are sums of terms dalpha * w_p * (m_p - alpha) (PB5) that cancel
    exactly when every candidate with weight fires (at global step 0 all do) or none does: the
    true value is then 0 and the reference returns rounding noise (about 1e-18 where the terms
    are O(1)). In the emitted form that noise flows on into the state's gradient (PB8), so an
    array whose true gradient is 0 (h_init behind a closed clock) holds only noise, and its own
    max is no scale for it.
    """
    return max(float(np.max(np.abs(g))) for g in grads.values() if g.size)


def assert_backends_agree(problem, dh_last, rtol):
    """Forward and backward on each backend agree: outputs, every cache array, the last state
    and every gradient; and each backend's backward gives the same on the other's cache."""
    spec, params = problem["spec"], problem["params"]
    out = {}
    for backend in ("numpy", "numba"):
        y, cache = forward_periods(params, spec, problem["x"], h_init=problem["h_init"],
                                   t0=problem["t0"], resets=problem["resets"], backend=backend)
        grads = backward_periods(params, spec, problem["dy"], cache, dh_last, backend=backend)
        out[backend] = (y, cache, grads)
    (y0, c0, g0), (y1, c1, g1) = out["numpy"], out["numba"]
    assert isinstance(c1, PeriodCache) and (c0.backend, c1.backend) == ("numpy", "numba")
    assert_agrees("y", y1, y0, rtol)
    for field in CACHE_ARRAYS:
        assert_agrees(field, getattr(c1, field), getattr(c0, field), rtol)
    assert_agrees("h_last", c1.h_last, c0.h_last, rtol)
    assert np.array_equal(c1.h_init, c0.h_init) and c1.h_init.dtype == c0.h_init.dtype
    assert np.array_equal(c1.r, c0.r) and np.array_equal(c1.x, c0.x)
    assert np.array_equal(c1.reset, c0.reset)
    assert (c1.t0, c1.h_init_given) == (c0.t0, c0.h_init_given)
    assert sorted(g1) == sorted(g0)
    scale = gradient_scale(g0)
    for name in g0:
        assert_agrees(name, g1[name], g0[name], rtol, scale)
    # either backend's cache works with either backward
    for backend, cache in (("numpy", c1), ("numba", c0)):
        swapped = backward_periods(params, spec, problem["dy"], cache, dh_last, backend=backend)
        for name in g0:
            assert_agrees(f"{name} ({backend} backward, other cache)", swapped[name], g0[name],
                          rtol, scale)
    return out


@settings(max_examples=examples(300))
@given(problem=period_problems(), with_dh_last=st.booleans())
def test_periods_numba_matches_numpy_float64(problem, with_dh_last):
    """Outputs, cache, last state and every gradient agree to 1e-12 on drawn specs."""
    assert_backends_agree(problem, problem["dh_last"] if with_dh_last else None, RTOL64)


@pytest.mark.slow
@settings(max_examples=examples(40))
@given(problem=period_problems(dtype=np.float32), with_dh_last=st.booleans())
def test_periods_numba_matches_numpy_float32(problem, with_dh_last):
    """float32 stays float32 end to end and agrees to float32 rounding."""
    out = assert_backends_agree(problem, problem["dh_last"] if with_dh_last else None, RTOL32)
    y, cache, grads = out["numba"]
    assert y.dtype == np.float32
    assert all(getattr(cache, f).dtype == np.float32 for f in CACHE_ARRAYS)
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("form", FORMS)
def test_periods_numba_matches_numpy_on_wide_shapes(form):
    """Larger than the drawn shapes: B 5, D 7, H 20 in 5 modules, O 9, L 37, eight candidates,
    t0 11, learned h_0, resets."""
    rng = np.random.default_rng(1)
    base = cw.ClockworkSpec(7, 9, [4, 4, 4, 4, 4], [1, 2, 3, 5, 6], learn_h0=True)
    spec = LearnedPeriodSpec(base, [1, 2, 3, 4, 5, 6, 7, 8], form)
    problem = dict(spec=spec, params=random_period_params(spec, rng),
                   x=rng.standard_normal((37, 5, 7)), h_init=0.5 * rng.standard_normal((5, 20)),
                   t0=11, resets=[3, 20], dy=rng.standard_normal((37, 5, 9)))
    assert_backends_agree(problem, rng.standard_normal((5, 20)), RTOL64)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="no compiled signatures without the JIT")
def test_periods_kernels_compile_one_signature_per_dtype():
    """The kernels take named tuples whose types do not depend on the form: the static form
    passes empty (0, H) maps of the emitted form's type, so each kernel has one compiled
    signature per dtype for both forms."""
    from cwrnn_np.models.learned_periods import kernels
    rng = np.random.default_rng(6)
    for dtype in (np.float64, np.float32):
        for form in FORMS:
            spec = LearnedPeriodSpec(cw.ClockworkSpec(2, 3, [2, 3], [1, 2]), None, form, 0.7)
            params = init_period_params(spec, rng, dtype=dtype)
            x = rng.standard_normal((5, 2, 2)).astype(dtype)
            y, cache = forward_periods(params, spec, x, t0=3, resets=[2], backend="numba")
            backward_periods(params, spec, rng.standard_normal(y.shape).astype(dtype), cache,
                             backend="numba")
    for kernel in (kernels.periods_forward_kernel, kernels.periods_backward_kernel):
        dtypes = [str(sig[0][0].dtype) for sig in kernel.signatures]   # Sequence.x's dtype
        assert len(dtypes) == len(set(dtypes)) and {"float32", "float64"} <= set(dtypes), \
            f"{kernel.__name__}: {kernel.signatures}"


def test_softplus_and_sigmoid_kernels_are_stable_and_exact():
    """The kernels' scalar softplus and sigmoid equal the NumPy ones, without overflow."""
    from cwrnn_np.models.learned_periods.kernels import sigmoid_scalar, softplus_scalar
    z = np.array([-1000.0, -40.0, -1.0, -1e-9, 0.0, 1e-9, 0.5, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sp, sg = lp.softplus(z), lp.sigmoid(z)
    assert sp[0] == 0.0 and sp[-1] == 1000.0 and sg[0] == 0.0 and sg[-1] == 1.0
    np.testing.assert_allclose(sp[1:-1], np.log1p(np.exp(z[1:-1])), rtol=1e-15)
    np.testing.assert_allclose(sg[1:-1], 1 / (1 + np.exp(-z[1:-1])), rtol=1e-15)
    assert [softplus_scalar(float(v)) for v in z] == pytest.approx(list(sp), rel=1e-15, abs=0)
    assert [sigmoid_scalar(float(v)) for v in z] == pytest.approx(list(sg), rel=1e-15, abs=0)


# ----- invariants -----------------------------------------------------------------------------

@settings(max_examples=examples(40))
@given(problem=period_problems())
def test_expected_clock_and_period_distributions(backend, problem):
    """Each w_t[i] is a distribution over the candidates (P5); alpha_t[i] is the probability
    that a period drawn from it fires at global step t0 + t (P6), so it lies in [0, 1]; sigma
    is tau softplus(rho) (P4)."""
    spec = problem["spec"]
    _, cache = forward_periods(problem["params"], spec, problem["x"], problem["h_init"],
                               problem["t0"], problem["resets"], backend=backend)
    L = len(problem["x"])
    assert np.all(cache.w >= 0)
    np.testing.assert_allclose(cache.w.sum(axis=-1), 1, rtol=0, atol=1e-14)
    assert np.all((cache.alpha >= 0) & (cache.alpha <= 1 + 1e-15))
    fires = np.array([[(problem["t0"] + t) % p == 0 for p in spec.candidates]
                      for t in range(L)])                            # (L, P)
    expected = (cache.w * fires[:, None, None, :]).sum(axis=-1)      # (L, B, n)
    np.testing.assert_allclose(cache.alpha, expected, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(cache.sigma, spec.temperature * np.logaddexp(0, cache.rho),
                               rtol=1e-14)
    if spec.form == "static":
        assert np.array_equal(cache.mu, np.broadcast_to(problem["params"]["mu"],
                                                        cache.mu.shape))


@settings(max_examples=examples(40))
@given(problem=period_problems(), cut=st.integers(1, 8))
def test_chunked_run_equals_whole_run(backend, problem, cut):
    """Forward in two chunks (carrying cache.h_last and t0 + L1) gives the whole run's outputs
    and state; backward in two chunks (carrying grads["h_init"] as dh_last) its gradients."""
    check_chunked_equals_whole(forward_periods, backward_periods, problem, cut, backend, fields=("alpha", "w"),
                               bitwise=("y",))


@settings(max_examples=examples(40))
@given(problem=period_problems())
def test_structural_zeros_get_zero_gradient_and_change_nothing(backend, problem):
    """Entries of W_I, W_H outside the wiring (masks M_I, M_H) get exactly zero gradient, and
    changing them leaves the outputs bitwise unchanged."""
    spec, params = problem["spec"], problem["params"]
    kwargs = dict(h_init=problem["h_init"], t0=problem["t0"], resets=problem["resets"],
                  backend=backend)
    y, cache = forward_periods(params, spec, problem["x"], **kwargs)
    grads = backward_periods(params, spec, problem["dy"], cache, problem["dh_last"],
                             backend=backend)
    masks = {"W_I": spec.base.M_I, "W_H": spec.base.M_H}
    rng = np.random.default_rng(problem["seed"])
    noisy = dict(params)
    for name, mask in masks.items():
        assert np.all(grads[name][~mask] == 0), name
        noisy[name] = np.where(mask, params[name], 5 * rng.standard_normal(mask.shape))
    y_noisy, _ = forward_periods(noisy, spec, problem["x"], **kwargs)
    assert np.array_equal(y_noisy, y)


@pytest.mark.parametrize("seed", range(4))
def test_harden_at_low_temperature_is_the_cw_rnn(backend, seed):
    """Static form, temperature 1e-4: every σ is tiny, each w_t[i] is one-hot on the candidate
    nearest e^mu_i, alpha is the ordinary clock, and the hardened CW-RNN gives the same
    outputs (with t0, h_init and a reset)."""
    rng = np.random.default_rng(seed)
    cands = [1, 2, 3, 5, 6, 8]
    base = cw.ClockworkSpec(2, 3, [2, 1, 3, 2], [1, 2, 4, 8], connectivity="full",
                            learn_h0=True)
    spec = LearnedPeriodSpec(base, cands, "static", temperature=1e-4)
    params = random_period_params(spec, rng)
    chosen = rng.choice(cands, size=4)
    # mu within 0.05 of log(chosen): far from any midpoint between candidates (>= 0.067)
    params["mu"] = np.log(chosen) + rng.uniform(-0.05, 0.05, 4)
    x, h_init = rng.standard_normal((23, 2, 2)), 0.5 * rng.standard_normal((2, 8))
    y, cache = forward_periods(params, spec, x, h_init, t0=7, resets=[9], backend=backend)
    hard_spec, hard_params = harden(params, spec)
    assert list(hard_spec.periods) == list(chosen) and not any(hard_spec.phases)
    assert np.array_equal(hard_spec.C, base.C) and np.array_equal(hard_spec.R, base.R)
    assert sorted(hard_params) == sorted(base.param_shapes())
    y_hard, c_hard = cw.forward(hard_params, hard_spec, x, h_init, t0=7, resets=[9],
                                backend="numpy")
    assert np.array_equal(cache.alpha, np.repeat(hard_spec.active(23, 7)[:, None, :], 2,
                                                 axis=1).astype(float))
    assert_agrees("y", y, y_hard, RTOL64)
    assert_agrees("h_last", cache.h_last, c_hard.h_last, RTOL64)


@pytest.mark.parametrize("seed", range(3))
def test_emitted_form_without_maps_hardens_as_the_static_form(seed):
    """With W_mu = W_rho = 0 the emitted clock is the static one with mu = b_mu, rho = b_rho:
    same distributions, same hardened periods and parameters."""
    rng = np.random.default_rng(seed)
    cands = [1, 2, 3, 4, 5, 6, 7, 8]
    base = cw.ClockworkSpec(1, 2, [1, 2, 2], [1, 3, 5], learn_h0=bool(seed % 2))
    static = LearnedPeriodSpec(base, cands, "static", temperature=0.3)
    emitted = static.replace(form="emitted")
    p_static = random_period_params(static, rng)
    p_static["mu"] = np.log(rng.choice(cands, size=3)) + rng.uniform(-0.05, 0.05, 3)
    p_emitted = {k: v for k, v in p_static.items() if k not in ("mu", "rho")}
    p_emitted.update(W_mu=np.zeros((3, 5)), b_mu=p_static["mu"], W_rho=np.zeros((3, 5)),
                     b_rho=p_static["rho"])
    x = rng.standard_normal((6, 2, 1))
    mp_s, mp_e = module_periods(p_static, static), module_periods(p_emitted, emitted, x, t0=3)
    np.testing.assert_allclose(mp_e["weights"], mp_s["weights"], rtol=1e-14, atol=1e-15)
    assert np.array_equal(mp_e["mode"], mp_s["mode"])
    spec_s, hard_s = harden(p_static, static)
    spec_e, hard_e = harden(p_emitted, emitted, x, t0=3)
    assert spec_s == spec_e
    assert sorted(hard_s) == sorted(hard_e) and all(np.array_equal(hard_s[k], hard_e[k])
                                                    for k in hard_s)


def test_module_periods_of_the_emitted_form_needs_x():
    spec, params, _, _ = fixed_problem("emitted")
    with pytest.raises(ValueError, match="needs x"):
        module_periods(params, spec)
    with pytest.raises(ValueError, match="needs x"):
        harden(params, spec)


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("sigma_init", [0.3, 0.5, 1.5])
def test_init_period_params_starts_at_the_base_clock(form, sigma_init):
    """mu = log(base periods), softplus(rho) = sigma_init (σ at τ = 1); in the emitted form
    these are the biases and the maps start at zero, so the clock starts static."""
    base = cw.ClockworkSpec(2, 1, [2, 3, 1], [1, 3, 6], learn_h0=True)
    spec = LearnedPeriodSpec(base, [1, 2, 3, 4, 6, 8], form, sigma_init=sigma_init)
    params = init_period_params(spec, np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == spec.param_shapes()
    mu, rho = (params["mu"], params["rho"]) if form == "static" else \
        (params["b_mu"], params["b_rho"])
    np.testing.assert_allclose(mu, np.log([1, 3, 6]), rtol=1e-15)
    np.testing.assert_allclose(lp.softplus(rho), sigma_init, rtol=1e-13)
    if form == "emitted":
        assert np.all(params["W_mu"] == 0) and np.all(params["W_rho"] == 0)
    p32 = init_period_params(spec, np.random.default_rng(0), dtype=np.float32)
    assert all(v.dtype == np.float32 for v in p32.values())


# ----- bad input --------------------------------------------------------------------------------

def _base(**changes):
    return cw.ClockworkSpec(**{**dict(input_size=1, output_size=1, module_sizes=[1, 2],
                                      periods=[1, 3]), **changes})


@pytest.mark.parametrize("make, field", [
    (lambda: LearnedPeriodSpec(_base(phases=[0, 1])), "phases"),
    (lambda: LearnedPeriodSpec("clockwork"), "base"),
    (lambda: LearnedPeriodSpec(_base(), [2, 3, 2]), "candidates"),
    (lambda: LearnedPeriodSpec(_base(), [0, 2]), "candidates"),
    (lambda: LearnedPeriodSpec(_base(), [4]), "candidates"),
    (lambda: LearnedPeriodSpec(_base(), [2, 2.5]), "candidates"),
    (lambda: LearnedPeriodSpec(_base(), [2, True]), "candidates"),
    (lambda: LearnedPeriodSpec(_base(), 4), "candidates"),
    (lambda: LearnedPeriodSpec(_base(), form="dynamic"), "form"),
    (lambda: LearnedPeriodSpec(_base(), sigma_init=0.0), "sigma_init"),
    (lambda: LearnedPeriodSpec(_base(), sigma_init=-1.0), "sigma_init"),
    (lambda: LearnedPeriodSpec(_base(), temperature=0.0), "temperature"),
    (lambda: LearnedPeriodSpec(_base(), temperature=float("inf")), "temperature"),
])
def test_bad_spec_names_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def _good(form="static"):
    spec = LearnedPeriodSpec(_base(), [1, 2, 3], form)
    return spec, init_period_params(spec, np.random.default_rng(0)), np.zeros((4, 2, 1))


@pytest.mark.parametrize("call, match", [
    (lambda s, p, x: forward_periods({k: v for k, v in p.items() if k != "mu"}, s, x),
     r"missing \['mu'\]"),
    (lambda s, p, x: forward_periods({**p, "W_mu": np.zeros((2, 3))}, s, x), "unexpected"),
    (lambda s, p, x: forward_periods({**p, "rho": np.zeros(3)}, s, x), "rho"),
    (lambda s, p, x: forward_periods(p, s.base, x), "LearnedPeriodSpec"),
    (lambda s, p, x: forward_periods(p, s, x, backend="torch"), "backend"),
    (lambda s, p, x: forward_periods(p, s, x, t0=-1), "t0"),
    (lambda s, p, x: forward_periods(p, s, x, resets=[4]), "resets"),
    (lambda s, p, x: forward_periods(p, s, x, h_init=np.zeros((2, 2))), "h_init"),
])
def test_bad_forward_input_names_the_field(call, match):
    spec, params, x = _good()
    with pytest.raises(ValueError, match=match):
        call(spec, params, x)


def test_bad_backward_input_names_the_field():
    spec, params, x = _good()
    y, cache = forward_periods(params, spec, x, backend="numpy")
    with pytest.raises(ValueError, match="PeriodCache"):
        backward_periods(params, spec, y, tuple(cache))
    base_params = {k: v for k, v in params.items() if k not in ("mu", "rho")}
    _, cw_cache = cw.forward(base_params, spec.base, x, backend="numpy")
    with pytest.raises(ValueError, match="PeriodCache"):
        backward_periods(params, spec, y, cw_cache)
    with pytest.raises(ValueError, match="dy"):
        backward_periods(params, spec, y[:, :, :0], cache)
    with pytest.raises(ValueError, match="dh_last"):
        backward_periods(params, spec, y, cache, dh_last=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="backend"):
        backward_periods(params, spec, y, cache, backend="torch")
