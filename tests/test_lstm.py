"""The LSTM baseline (cwrnn_np.models.lstm, docs/lstm.md): gradients, backends, invariants, errors.

Hand-derived BPTT against float64 finite differences (relative error <= 1e-6, the project's
audit standard) on Hypothesis-drawn shapes for both backends; the Numba kernels against the NumPy
reference (norm-wise relative 1e-12, as tests/test_numba_backend.py explains); chunked runs equal
whole runs; resets; the forget-gate bias at init; the parameter count; and bad input.

Gradients are compared as one vector, at the scale max|g| over every gradient array, as for the
soft variants. A peephole gradient shows why: p_o sums o_t (1 - o_t) c_t times the output
gate's gradient over steps and batch rows, terms that can cancel to a millionth of the
gradient's scale. On one such draw (dp_o = 1.5e-6, max|g| = 0.8) an 80-bit long-double
evaluation put the NumPy reference off by 2e-12 and the kernels off by 5e-12 of dp_o itself:
the limit is the conditioning of that sum, not the kernel.
"""
import json
import os
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cwrnn_np import lstm
from cwrnn_np.models.lstm import (LSTM_BACKENDS, LSTMCache, LSTMSpec, backward_lstm,
                                  forward_lstm, gradcheck_lstm, init_lstm_params)
from strategies import assert_agrees, check_chunked_equals_whole, examples

TOL = 1e-6
RTOL64 = 1e-12
RTOL32 = 1e-4
LSTM_BACKEND_NAMES = sorted(LSTM_BACKENDS)
ROOT = pathlib.Path(__file__).resolve().parents[1]


# ----- strategies -----------------------------------------------------------------------------

def random_lstm_params(spec, rng, dtype=np.float64):
    """Bounded random parameters: fan-in-scaled weights, and biases, peepholes and h_0 drawn
    non-zero but small, so no gate saturates and finite differences stay accurate."""
    params = init_lstm_params(spec, rng, dtype=dtype, scale=float(rng.uniform(0.5, 1.2)))
    H = spec.hidden_size
    params["b"] = (0.5 * rng.standard_normal(4 * H)).astype(dtype)
    params["b_O"] = (0.3 * rng.standard_normal(spec.output_size)).astype(dtype)
    for name in ("p_i", "p_f", "p_o"):
        if name in params:
            params[name] = (0.5 * rng.standard_normal(H)).astype(dtype)
    if spec.learn_h0:
        params["h_0"] = (0.5 * rng.standard_normal(2 * H)).astype(dtype)
    return params


@st.composite
def lstm_specs(draw, learn_h0=None):
    """H 1-4, D 0-3, O 1-3, peepholes on/off, learn_h0 on/off."""
    if learn_h0 is None:
        learn_h0 = draw(st.booleans())
    return LSTMSpec(input_size=draw(st.integers(0, 3)), output_size=draw(st.integers(1, 3)),
                    hidden_size=draw(st.integers(1, 4)), peepholes=draw(st.booleans()),
                    learn_h0=learn_h0)


@st.composite
def lstm_problems(draw, spec_strategy=None, max_len=8, with_h_init=None, dtype=np.float64):
    """A dict: spec, params, x (L 1-8, B 1-3), h_init or None, resets, dy, dh_last, seed."""
    spec = draw(spec_strategy if spec_strategy is not None else lstm_specs())
    L = draw(st.integers(1, max_len))
    B = draw(st.integers(1, 3))
    resets = sorted(draw(st.lists(st.integers(0, L - 1), max_size=3, unique=True)))
    if with_h_init is None:
        with_h_init = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    params = random_lstm_params(spec, rng, dtype)
    x = rng.standard_normal((L, B, spec.input_size)).astype(dtype)
    h_init = (0.5 * rng.standard_normal((B, 2 * spec.hidden_size))).astype(dtype) \
        if with_h_init else None
    # upstream gradients: standard normal, never all ones
    dy = rng.standard_normal((L, B, spec.output_size)).astype(dtype)
    dh_last = rng.standard_normal((B, 2 * spec.hidden_size)).astype(dtype)
    return dict(spec=spec, params=params, x=x, h_init=h_init, resets=resets, dy=dy,
                dh_last=dh_last, seed=seed)


# ----- gradients against finite differences --------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("backend", LSTM_BACKEND_NAMES)
@settings(max_examples=examples(100))
@given(problem=lstm_problems())
def test_gradcheck_lstm_on_drawn_shapes(backend, problem):
    """Element-wise and random-direction checks on every parameter, x and h_init."""
    report = gradcheck_lstm(problem["params"], problem["spec"], problem["x"],
                            h_init=problem["h_init"], resets=problem["resets"], backend=backend,
                            rng=np.random.default_rng(problem["seed"]))
    assert report.n_checked > 0 and len(report.directions) == 3
    assert report.passed(TOL), f"{problem['spec']}\n{report}"


@pytest.mark.parametrize("backend", LSTM_BACKEND_NAMES)
@settings(max_examples=examples(30))
@given(problem=lstm_problems(spec_strategy=lstm_specs(learn_h0=True), with_h_init=False))
def test_gradcheck_lstm_learned_h0_through_resets(backend, problem):
    """h_0 is both the initial state and the reset state: both paths carry its gradient."""
    resets = sorted(set(problem["resets"]) | {len(problem["x"]) // 2})
    report = gradcheck_lstm(problem["params"], problem["spec"], problem["x"], resets=resets,
                            backend=backend, rng=np.random.default_rng(problem["seed"]))
    assert "h_0" in report.per_name
    assert report.passed(TOL), f"{problem['spec']}\n{report}"


@pytest.mark.parametrize("backend", LSTM_BACKEND_NAMES)
def test_gradcheck_lstm_against_independent_central_differences(backend):
    """A plain two-point central difference of an MSE loss (not gradcheck's stencil), with
    peepholes, a learned h_0 and a reset."""
    from cwrnn_np.losses import mse

    rng = np.random.default_rng(11)
    spec = LSTMSpec(2, 2, 3, peepholes=True, learn_h0=True)
    params = random_lstm_params(spec, rng)
    x = rng.standard_normal((9, 2, 2))
    target = rng.standard_normal((9, 2, 2))

    def loss_of(p):
        return mse(forward_lstm(p, spec, x, resets=[4], backend=backend)[0], target)[0]

    y, cache = forward_lstm(params, spec, x, resets=[4], backend=backend)
    grads = backward_lstm(params, spec, mse(y, target)[1], cache, backend=backend)
    h = 1e-6
    for name, value in params.items():
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][index] += h
            minus[name][index] -= h
            numeric = (loss_of(plus) - loss_of(minus)) / (2 * h)
            analytic = grads[name][index]
            assert abs(analytic - numeric) <= 1e-6 * max(abs(analytic), abs(numeric), 1e-3), (
                name, index, analytic, numeric)


def test_gradcheck_lstm_catches_a_wrong_gradient(monkeypatch):
    """The audit can fail: a peephole gradient off by 0.1% in one entry is caught and named."""
    fwd, bwd = LSTM_BACKENDS["numpy"]

    def wrong_backward(params, spec, dy, cache, dh_last=None):
        grads = bwd(params, spec, dy, cache, dh_last)
        grads["p_f"] = grads["p_f"].copy()
        grads["p_f"][1] *= 1.001
        return grads

    monkeypatch.setitem(LSTM_BACKENDS, "wrong", (fwd, wrong_backward))
    rng = np.random.default_rng(5)
    spec = LSTMSpec(1, 1, 2, peepholes=True)
    params = random_lstm_params(spec, rng)
    x = rng.standard_normal((6, 1, 1))
    report = gradcheck_lstm(params, spec, x, h_init=0.5 * rng.standard_normal((1, 4)),
                            backend="wrong", mode="elementwise")
    assert not report.passed(TOL)
    assert report.worst[0] == "p_f" and report.worst[1] == (1,)
    assert 5e-4 < report.max_rel_error < 2e-3
    assert "p_f[1]" in str(report)


def test_gradcheck_lstm_refuses_float32_and_bad_mode():
    spec = LSTMSpec(1, 1, 2)
    p32 = init_lstm_params(spec, np.random.default_rng(0), dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        gradcheck_lstm(p32, spec, np.zeros((3, 1, 1), np.float32))
    p64 = init_lstm_params(spec, np.random.default_rng(0))
    with pytest.raises(ValueError, match="mode"):
        gradcheck_lstm(p64, spec, np.zeros((3, 1, 1)), mode="sideways")


# ----- the Numba kernels against the NumPy reference ------------------------------------------

def assert_backends_agree(problem, dh_last, rtol):
    out = {}
    for backend in ("numpy", "numba"):
        y, cache = forward_lstm(problem["params"], problem["spec"], problem["x"],
                                h_init=problem["h_init"], resets=problem["resets"],
                                backend=backend)
        grads = backward_lstm(problem["params"], problem["spec"], problem["dy"], cache,
                              dh_last, backend=backend)
        out[backend] = (y, cache, grads)
    (y0, c0, g0), (y1, c1, g1) = out["numpy"], out["numba"]
    assert isinstance(c1, LSTMCache) and (c0.backend, c1.backend) == ("numpy", "numba")
    assert_agrees("y", y1, y0, rtol)
    for field in ("h", "gates", "tanh_c"):
        assert_agrees(field, getattr(c1, field), getattr(c0, field), rtol)
    assert_agrees("h_last", c1.h_last, c0.h_last, rtol)
    assert np.array_equal(c1.h_init, c0.h_init) and np.array_equal(c1.r, c0.r)
    assert np.array_equal(c1.reset, c0.reset) and np.array_equal(c1.x, c0.x)
    assert c1.h_init_given == c0.h_init_given
    assert sorted(g1) == sorted(g0)
    # the gradient is one vector: compared at max|g| over all of it, as for the other families,
    # so that a cancelled sum such as a peephole's is not its own scale
    scale = max(float(np.max(np.abs(g))) for g in g0.values() if g.size)
    for name in g0:
        assert_agrees(name, g1[name], g0[name], rtol, scale)
    return out


@settings(max_examples=examples(300))
@given(problem=lstm_problems(), with_dh_last=st.booleans())
def test_lstm_numba_matches_numpy_float64(problem, with_dh_last):
    """Outputs, cache, last state and every gradient agree to 1e-12 on drawn shapes."""
    assert_backends_agree(problem, problem["dh_last"] if with_dh_last else None, RTOL64)


@pytest.mark.slow
@settings(max_examples=examples(40))
@given(problem=lstm_problems(dtype=np.float32), with_dh_last=st.booleans())
def test_lstm_numba_matches_numpy_float32(problem, with_dh_last):
    """float32 stays float32 end to end and agrees to float32 rounding."""
    out = assert_backends_agree(problem, problem["dh_last"] if with_dh_last else None, RTOL32)
    y, cache, grads = out["numba"]
    assert y.dtype == cache.h.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_lstm_numba_matches_numpy_on_wide_shapes():
    """Larger than the drawn shapes: B 5, D 7, H 9, O 17, L 31, peepholes, h_0, resets."""
    rng = np.random.default_rng(1)
    spec = LSTMSpec(7, 17, 9, peepholes=True, learn_h0=True)
    params = random_lstm_params(spec, rng)
    problem = dict(spec=spec, params=params, x=rng.standard_normal((31, 5, 7)),
                   h_init=0.5 * rng.standard_normal((5, 18)), resets=[3, 20],
                   dy=rng.standard_normal((31, 5, 17)))
    assert_backends_agree(problem, rng.standard_normal((5, 18)), RTOL64)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="no compiled signatures without the JIT")
def test_lstm_kernels_compile_one_signature_per_dtype():
    """The kernels take named tuples whose types do not depend on the spec: with or without
    peepholes (empty arrays), h_0 or resets, each kernel has one compiled signature per dtype."""
    from cwrnn_np.models.lstm import kernels
    rng = np.random.default_rng(5)
    for dtype in (np.float64, np.float32):
        for peepholes in (False, True):
            spec = LSTMSpec(2, 3, 4, peepholes=peepholes, learn_h0=peepholes)
            params = init_lstm_params(spec, rng, dtype=dtype)
            x = rng.standard_normal((5, 2, 2)).astype(dtype)
            y, cache = forward_lstm(params, spec, x, resets=[2] if peepholes else None,
                                    backend="numba")
            backward_lstm(params, spec, rng.standard_normal(y.shape).astype(dtype), cache,
                          backend="numba")
    for kernel in (kernels.lstm_forward_kernel, kernels.lstm_backward_kernel):
        dtypes = [str(sig[0][0].dtype) for sig in kernel.signatures]   # Sequence.x's dtype
        assert len(dtypes) == len(set(dtypes)) and {"float32", "float64"} <= set(dtypes), \
            f"{kernel.__name__}: {kernel.signatures}"


# ----- invariants -----------------------------------------------------------------------------

@pytest.mark.parametrize("backend", LSTM_BACKEND_NAMES)
@settings(max_examples=examples(40))
@given(problem=lstm_problems(max_len=8), cut=st.integers(1, 7))
def test_lstm_chunked_run_equals_whole_run(backend, problem, cut):
    """Forward in two chunks (carrying cache.h_last) gives the whole run's outputs and state;
    backward in two chunks (carrying grads["h_init"] as dh_last) gives its gradients."""
    check_chunked_equals_whole(forward_lstm, backward_lstm, problem, cut, backend)


@pytest.mark.parametrize("backend", LSTM_BACKEND_NAMES)
def test_lstm_reset_restarts_from_r(backend):
    """After a reset at step s the outputs are those of a fresh run from r over x[s:], and no
    gradient reaches anything before s through the state."""
    rng = np.random.default_rng(2)
    spec = LSTMSpec(2, 2, 3, peepholes=True, learn_h0=True)
    params = random_lstm_params(spec, rng)
    x = rng.standard_normal((10, 2, 2))
    s = 6
    y, cache = forward_lstm(params, spec, x, resets=[s], backend=backend)
    y_fresh, _ = forward_lstm(params, spec, x[s:], backend=backend)
    np.testing.assert_allclose(y[s:], y_fresh, rtol=1e-14, atol=1e-14)
    dy = np.zeros_like(y)
    dy[s:] = rng.standard_normal(dy[s:].shape)
    g = backward_lstm(params, spec, dy, cache, backend=backend)
    assert np.all(g["x"][:s] == 0) and np.all(g["h_init"] == 0)
    assert np.any(g["h_0"] != 0)


@pytest.mark.parametrize("backend", LSTM_BACKEND_NAMES)
def test_lstm_ignores_t0(backend):
    """An LSTM has no clock: t0 is accepted for the CW-RNN's API and changes nothing."""
    rng = np.random.default_rng(3)
    spec = LSTMSpec(1, 1, 2)
    params = random_lstm_params(spec, rng)
    x = rng.standard_normal((5, 1, 1))
    y0, _ = forward_lstm(params, spec, x, t0=0, backend=backend)
    y7, c7 = forward_lstm(params, spec, x, t0=7, backend=backend)
    assert np.array_equal(y0, y7) and c7.t0 == 7


def test_lstm_cache_layout():
    """cache.h stacks [h_t; c_t]; h_t = o_t tanh(c_t) and y_t = W_O h_t + b_O (L6, L7)."""
    rng = np.random.default_rng(4)
    spec = LSTMSpec(2, 3, 4, peepholes=True)
    params = random_lstm_params(spec, rng)
    y, cache = forward_lstm(params, spec, rng.standard_normal((5, 2, 2)), backend="numpy")
    H = 4
    assert cache.h.shape == (5, 2, 8) and cache.h_last.shape == (2, 8)
    assert cache.gates.shape == (5, 2, 16) and cache.tanh_c.shape == (5, 2, 4)
    o = cache.gates[:, :, 2 * H:3 * H]
    np.testing.assert_allclose(cache.h[:, :, :H], o * np.tanh(cache.h[:, :, H:]), rtol=1e-15)
    np.testing.assert_allclose(y, cache.h[:, :, :H] @ params["W_O"].T + params["b_O"],
                               rtol=1e-14)


def test_sigmoid_is_stable_and_exact():
    z = np.array([-1000.0, -40.0, -1.0, 0.0, 0.5, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = lstm.sigmoid(z)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    np.testing.assert_allclose(s[1:-1], 1 / (1 + np.exp(-z[1:-1])), rtol=1e-15)
    from cwrnn_np.models.lstm.kernels import sigmoid_scalar
    assert [sigmoid_scalar(float(v)) for v in z] == pytest.approx(list(s), rel=1e-15, abs=0)


# ----- the spec, the parameters -----------------------------------------------------------------

@pytest.mark.parametrize("forget_bias", [5.0, 1.0, 0.0, -2.5])
def test_forget_bias_at_init(forget_bias):
    """b_f = forget_bias, every other bias, peephole and h_0 zero; at zero input and state the
    forget gate opens to sigma(forget_bias)."""
    spec = LSTMSpec(2, 1, 3, peepholes=True, forget_bias=forget_bias, learn_h0=True)
    params = init_lstm_params(spec, np.random.default_rng(0))
    H = 3
    assert np.all(params["b"][H:2 * H] == forget_bias)
    assert np.all(params["b"][:H] == 0) and np.all(params["b"][2 * H:] == 0)
    for name in ("p_i", "p_f", "p_o", "h_0", "b_O"):
        assert np.all(params[name] == 0), name
    _, cache = forward_lstm(params, spec, np.zeros((1, 1, 2)), backend="numpy")
    np.testing.assert_allclose(cache.gates[0, 0, H:2 * H], 1 / (1 + np.exp(-forget_bias)),
                               rtol=1e-15)


def test_default_forget_bias_is_the_papers():
    assert LSTMSpec(1, 1, 1).forget_bias == 5.0


def test_init_scale_and_dtype():
    spec = LSTMSpec(50, 3, 40)
    params = init_lstm_params(spec, np.random.default_rng(0), dtype=np.float32)
    assert all(p.dtype == np.float32 for p in params.values())
    assert abs(params["W_x"].std() * np.sqrt(50) - 1) < 0.05
    assert abs(params["W_h"].std() * np.sqrt(40) - 1) < 0.05
    with pytest.raises(ValueError, match="dtype"):
        init_lstm_params(spec, np.random.default_rng(0), dtype=np.int32)
    with pytest.raises(ValueError, match="scale"):
        init_lstm_params(spec, np.random.default_rng(0), scale=0.0)
    with pytest.raises(ValueError, match="rng"):
        init_lstm_params(spec, 0)


@settings(max_examples=examples(50))
@given(spec=lstm_specs())
def test_n_params_counts_every_parameter(spec):
    """n_params = the sum of the parameters' sizes = 4H(D+H) + 4H + 3H[peep] + O(H+1) + 2H[h_0]."""
    params = init_lstm_params(spec, np.random.default_rng(0))
    H, D, O = spec.hidden_size, spec.input_size, spec.output_size
    assert spec.n_params() == sum(p.size for p in params.values())
    assert spec.n_params() == (4 * H * (D + H) + 4 * H + 3 * H * spec.peepholes + O * (H + 1)
                               + 2 * H * spec.learn_h0)
    assert {k: p.shape for k, p in params.items()} == spec.param_shapes()
    assert spec.param_masks() == {k: None for k in spec.param_shapes()}


def test_paper_budget_sizes():
    """The paper's LSTM sizes for its 1-in/1-out budgets (Table 1: 4, 7, 10, 15 cells), counted
    without peepholes: 4 cells are 101 parameters, 15 cells 1036."""
    counts = [LSTMSpec(1, 1, H).n_params() for H in (4, 7, 10, 15)]
    assert counts == [101, 260, 491, 1036]


@settings(max_examples=examples(30))
@given(spec=lstm_specs(), forget_bias=st.floats(-10, 10))
def test_spec_to_dict_round_trips_through_json(spec, forget_bias):
    spec = spec.replace(forget_bias=forget_bias)
    d = json.loads(json.dumps(spec.to_dict()))
    assert LSTMSpec(**d) == spec


# ----- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, field", [
    (dict(input_size=-1), "input_size"),
    (dict(input_size=1.5), "input_size"),
    (dict(output_size=0), "output_size"),
    (dict(hidden_size=0), "hidden_size"),
    (dict(hidden_size=True), "hidden_size"),
    (dict(peepholes="yes"), "peepholes"),
    (dict(forget_bias=float("nan")), "forget_bias"),
    (dict(forget_bias="5"), "forget_bias"),
    (dict(learn_h0=1), "learn_h0"),
])
def test_bad_spec_names_the_field(kwargs, field):
    base = dict(input_size=1, output_size=1, hidden_size=2)
    with pytest.raises(ValueError, match=field) as info:
        LSTMSpec(**{**base, **kwargs})
    assert repr(next(iter(kwargs.values())))[:3] in str(info.value)


def _good():
    spec = LSTMSpec(2, 1, 3, peepholes=True)
    params = init_lstm_params(spec, np.random.default_rng(0))
    return spec, params, np.zeros((4, 2, 2))


@pytest.mark.parametrize("mutate, match", [
    (lambda p: p.pop("p_o"), "missing"),
    (lambda p: p.update(h_0=np.zeros(6)), "learn_h0"),
    (lambda p: p.update(W_h=np.zeros((3, 3))), "W_h"),
    (lambda p: p.update(b=np.zeros(12, np.float32)), "dtype"),
    (lambda p: p.update(W_O=[[0.0, 0.0, 0.0]]), "W_O"),
])
def test_bad_params_name_the_entry(mutate, match):
    spec, params, x = _good()
    mutate(params)
    with pytest.raises(ValueError, match=match):
        forward_lstm(params, spec, x)


def test_peepholes_given_to_a_spec_without_them():
    spec = LSTMSpec(2, 1, 3)
    params = init_lstm_params(spec, np.random.default_rng(0))
    params["p_i"] = np.zeros(3)
    with pytest.raises(ValueError, match="peepholes"):
        forward_lstm(params, spec, np.zeros((4, 2, 2)))


@pytest.mark.parametrize("call, match", [
    (lambda s, p, x: forward_lstm(p, s, np.zeros((4, 2, 3))), "x"),
    (lambda s, p, x: forward_lstm(p, s, np.zeros((0, 2, 2))), "empty sequence"),
    (lambda s, p, x: forward_lstm(p, s, np.zeros((4, 0, 2))), "empty batch"),
    (lambda s, p, x: forward_lstm(p, s, x, h_init=np.zeros((2, 3))), "h_init"),
    (lambda s, p, x: forward_lstm(p, s, np.full((4, 2, 2), np.nan)), "NaN"),
    (lambda s, p, x: forward_lstm(p, s, x, t0=-1), "t0"),
    (lambda s, p, x: forward_lstm(p, s, x, resets=[4]), "resets"),
    (lambda s, p, x: forward_lstm(p, s, x, backend="torch"), "backend"),
    (lambda s, p, x: forward_lstm(p, "lstm", x), "spec"),
])
def test_bad_forward_input_names_the_field(call, match):
    spec, params, x = _good()
    with pytest.raises(ValueError, match=match):
        call(spec, params, x)


def test_bad_backward_input_names_the_field():
    spec, params, x = _good()
    y, cache = forward_lstm(params, spec, x, backend="numpy")
    with pytest.raises(ValueError, match="LSTMCache"):
        backward_lstm(params, spec, y, tuple(cache))
    with pytest.raises(ValueError, match="dy"):
        backward_lstm(params, spec, y[:, :, :0], cache)
    with pytest.raises(ValueError, match="dh_last"):
        backward_lstm(params, spec, y, cache, dh_last=np.zeros((2, 3)))
    other = LSTMSpec(2, 1, 4, peepholes=True)
    with pytest.raises(ValueError, match="state of width"):
        backward_lstm(init_lstm_params(other, np.random.default_rng(0)), other, y, cache)
