"""Hand-derived BPTT against float64 finite differences (docs/bptt.md, "Auditing").

Every registered backend runs the same tests. The tolerance is the project's audit standard:
relative error <= 1e-6, in float64.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cwrnn_np as cw
from strategies import examples, problems, random_params, specs

TOL = 1e-6


@pytest.mark.slow
@settings(max_examples=examples(200))
@given(problem=problems())
def test_gradcheck_on_drawn_specs(backend, problem):
    """Element-wise and random-direction checks on every parameter, x and h_init."""
    report = cw.gradcheck(problem.params, problem.spec, problem.x, **problem.kwargs(),
                          backend=backend, rng=np.random.default_rng(problem.seed))
    assert report.n_checked > 0
    assert len(report.directions) == 3
    assert report.passed(TOL), f"{problem.spec}\n{report}"


@settings(max_examples=examples(50))
@given(problem=problems(spec_strategy=specs(learn_h0=True), with_h_init=False))
def test_gradcheck_learned_h0_through_resets(backend, problem):
    """h_0 is both the initial state and the reset state: both paths carry its gradient."""
    resets = sorted(set(problem.resets) | {len(problem.x) // 2})
    report = cw.gradcheck(problem.params, problem.spec, problem.x, t0=problem.t0,
                          resets=resets, backend=backend,
                          rng=np.random.default_rng(problem.seed))
    assert report.passed(TOL), f"{problem.spec}\n{report}"


def test_gradcheck_against_independent_central_differences(backend):
    """An independent plain central difference (written here, not gradcheck's stencil)."""
    rng = np.random.default_rng(7)
    spec = cw.ClockworkSpec(2, 2, [2, 3, 2], [1, 3, 5], phases=[0, 2, 1],
                            connectivity="full", input_modules="fastest", learn_h0=True)
    params = random_params(spec, rng)
    x = rng.standard_normal((11, 2, 2))
    target = rng.standard_normal((11, 2, 2))

    def loss_of(p):
        y, _ = cw.forward(p, spec, x, t0=1, resets=[6], backend=backend)
        return cw.mse(y, target)[0]

    y, cache = cw.forward(params, spec, x, t0=1, resets=[6], backend=backend)
    _, dy = cw.mse(y, target)
    grads = cw.backward(params, spec, dy, cache, backend=backend)
    h = 1e-6
    for name, value in params.items():
        mask = spec.param_masks()[name]
        for index in np.ndindex(value.shape):
            if mask is not None and not mask[index]:
                assert grads[name][index] == 0.0
                continue
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][index] += h
            minus[name][index] -= h
            numeric = (loss_of(plus) - loss_of(minus)) / (2 * h)
            analytic = grads[name][index]
            # plain two-point differences resolve about 1e-9 absolute here
            assert abs(analytic - numeric) <= 1e-6 * max(abs(analytic), abs(numeric), 1e-3), (
                name, index, analytic, numeric)


def test_gradcheck_catches_a_wrong_gradient(monkeypatch):
    """The audit can fail: a backward pass that is off by 0.1% in one entry is caught and named."""
    fwd, bwd = cw.BACKENDS["numpy"]

    def wrong_backward(params, spec, dy, cache, dh_last=None):
        grads = bwd(params, spec, dy, cache, dh_last)
        grads["W_H"] = grads["W_H"].copy()
        grads["W_H"][0, 0] *= 1.001
        return grads

    monkeypatch.setitem(cw.BACKENDS, "wrong", (fwd, wrong_backward))
    rng = np.random.default_rng(3)
    spec = cw.ClockworkSpec(1, 1, [2, 2], [1, 2])
    params = random_params(spec, rng)
    x = rng.standard_normal((6, 1, 1))
    report = cw.gradcheck(params, spec, x, backend="wrong", mode="elementwise")
    assert not report.passed(TOL)
    assert report.worst[0] == "W_H" and report.worst[1] == (0, 0)
    assert 5e-4 < report.max_rel_error < 2e-3
    assert "W_H[0, 0]" in str(report)


def test_gradcheck_catches_gradient_on_structural_zeros(monkeypatch):
    fwd, bwd = cw.BACKENDS["numpy"]

    def leaky_backward(params, spec, dy, cache, dh_last=None):
        grads = bwd(params, spec, dy, cache, dh_last)
        grads["W_H"] = grads["W_H"] + 1e-3 * ~spec.M_H
        return grads

    monkeypatch.setitem(cw.BACKENDS, "leaky", (fwd, leaky_backward))
    rng = np.random.default_rng(4)
    spec = cw.ClockworkSpec(1, 1, [2, 2], [1, 2])  # clockwork: module 1 does not read module 0
    params = random_params(spec, rng)
    report = cw.gradcheck(params, spec, rng.standard_normal((5, 1, 1)), backend="leaky",
                          mode="direction")
    assert report.masked_nonzero == ["W_H"]
    assert not report.passed(TOL)


def test_gradcheck_refuses_float32():
    spec = cw.ClockworkSpec(1, 1, [2], [1])
    params = cw.init_params(spec, np.random.default_rng(0), dtype=np.float32)
    with pytest.raises(ValueError, match="float64"):
        cw.gradcheck(params, spec, np.zeros((3, 1, 1), np.float32))


def test_gradcheck_rejects_bad_mode():
    spec = cw.ClockworkSpec(1, 1, [2], [1])
    params = cw.init_params(spec, np.random.default_rng(0))
    with pytest.raises(ValueError, match="mode"):
        cw.gradcheck(params, spec, np.zeros((3, 1, 1)), mode="sideways")


# ----- losses ---------------------------------------------------------------------------------

def _numeric_dy(loss_fn, y, h=1e-6):
    g = np.zeros_like(y)
    for index in np.ndindex(y.shape):
        yp, ym = y.copy(), y.copy()
        yp[index] += h
        ym[index] -= h
        g[index] = (loss_fn(yp) - loss_fn(ym)) / (2 * h)
    return g


@settings(max_examples=examples(30))
@given(L=st.integers(1, 5), B=st.integers(1, 3), O=st.integers(1, 4),
       seed=st.integers(0, 2**32 - 1), masked=st.booleans())
def test_loss_gradients_match_finite_differences(L, B, O, seed, masked):
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((L, B, O))
    mask = rng.random((L, B)) < 0.7 if masked else None
    if mask is not None:
        mask[0, 0] = True
    target = rng.standard_normal((L, B, O))
    labels = rng.integers(0, O, size=(L, B))
    last = rng.integers(0, O, size=B)
    lengths = rng.integers(1, L + 1, size=B)
    cases = [
        lambda yy: cw.mse(yy, target, mask),
        lambda yy: cw.softmax_cross_entropy(yy, labels, mask),
        lambda yy: cw.softmax_cross_entropy_last(yy, last, lengths),
    ]
    for fn in cases:
        loss, dy = fn(y)
        numeric = _numeric_dy(lambda yy: fn(yy)[0], y)
        np.testing.assert_allclose(dy, numeric, rtol=1e-6, atol=1e-9)


def test_loss_values_by_hand():
    y = np.array([[[0.0, np.log(3.0)]]])  # p = (1/4, 3/4)
    assert np.isclose(cw.softmax_cross_entropy(y, np.array([[1]]))[0], -np.log(0.75))
    assert np.isclose(cw.softmax_cross_entropy_last(y, np.array([0]))[0], -np.log(0.25))
    loss, dy = cw.mse(np.array([[[1.0, 3.0]]]), np.array([[[0.0, 0.0]]]))
    assert loss == 5.0 and np.array_equal(dy, np.array([[[1.0, 3.0]]]))


def test_last_step_loss_reads_only_the_last_valid_step():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((6, 3, 4))
    lengths = np.array([6, 2, 4])
    loss, dy = cw.softmax_cross_entropy_last(y, np.array([0, 1, 2]), lengths)
    for b, lam in enumerate(lengths):
        assert np.all(dy[np.arange(6) != lam - 1, b] == 0)
        assert np.any(dy[lam - 1, b] != 0)
    y2 = y.copy()
    y2[5, 1] += 10.0  # after sequence 1 ends: no effect
    assert cw.softmax_cross_entropy_last(y2, np.array([0, 1, 2]), lengths)[0] == loss


@pytest.mark.slow
@settings(max_examples=examples(30))
@given(problem=problems())
def test_float32_matches_float64(backend, problem):
    """float32 runs end to end in float32 and agrees with float64 to float32 precision."""
    p32 = {k: v.astype(np.float32) for k, v in problem.params.items()}
    x32 = problem.x.astype(np.float32)
    h32 = None if problem.h_init is None else problem.h_init.astype(np.float32)
    kw = dict(t0=problem.t0, resets=problem.resets, backend=backend)
    y64, c64 = cw.forward(problem.params, problem.spec, problem.x, h_init=problem.h_init, **kw)
    y32, c32 = cw.forward(p32, problem.spec, x32, h_init=h32, **kw)
    assert y32.dtype == np.float32 and c32.h.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    g64 = cw.backward(problem.params, problem.spec, problem.dy, c64, backend=backend)
    g32 = cw.backward(p32, problem.spec, problem.dy.astype(np.float32), c32, backend=backend)
    for name, g in g32.items():
        assert g.dtype == np.float32, name
        np.testing.assert_allclose(g, g64[name], rtol=1e-3, atol=1e-4, err_msg=name)
