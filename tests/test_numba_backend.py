"""The Numba backend against the NumPy reference (stumpy's naive-reference tests).

``backend="numba"`` must give what ``backend="numpy"`` gives, on Hypothesis-drawn specs covering
the whole family (presets and random masks, phases, routing, t0, resets, learned h_0, h_init,
dh_last, D = 0). The gradient and invariant property tests of the other files run on both
backends through the ``backend`` fixture; this file checks agreement, the kernel's own helpers
and the exact invariants of the kernels.

Tolerance. The kernels sum in another order than BLAS does, so an entry that is a small
difference of large terms (cancellation) can differ by a few ulp *of the terms*, which is far
more than 1e-12 of the entry itself (up to ~1e-10 was seen on h_init over 3000 random problems).
So agreement is "relative 1e-12" in the norm-wise sense: every entry within 1e-12 of itself or
of the array's largest entry, ``|got - want| <= 1e-12 (|want| + max|want|)``; the worst seen is
1e-13 of max|want|. Structural zeros and held states are checked bitwise, not to a tolerance.
"""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cwrnn_np as cw
from cwrnn_np.kernels import special
from cwrnn_np.models.clockwork import kernels as clockwork
from cwrnn_np.models.clockwork import numba_backend
from strategies import examples, problems, random_params, specs

RTOL64 = 1e-12
RTOL32 = 1e-4


def assert_agrees(name, got, want, rtol):
    """``got`` equals ``want`` to ``rtol``, norm-wise (module docstring); same shape and dtype."""
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{name}: dtype {got.dtype} != {want.dtype}"
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale,
                               err_msg=f"{name}: numba (ACTUAL) vs numpy (DESIRED)")


def run_both(problem, dh_last):
    """Forward and backward on each backend: {backend: (y, cache, grads)}."""
    out = {}
    for backend in ("numpy", "numba"):
        y, cache = cw.forward(problem.params, problem.spec, problem.x, **problem.kwargs(),
                              backend=backend)
        grads = cw.backward(problem.params, problem.spec, problem.dy, cache, dh_last,
                            backend=backend)
        out[backend] = (y, cache, grads)
    return out


def assert_backends_agree(problem, dh_last, rtol):
    out = run_both(problem, dh_last)
    (y0, c0, g0), (y1, c1, g1) = out["numpy"], out["numba"]
    assert c1.backend == "numba" and isinstance(c1, cw.ForwardCache)
    assert_agrees("y", y1, y0, rtol)
    assert_agrees("h", c1.h, c0.h, rtol)
    assert_agrees("h_last", c1.h_last, c0.h_last, rtol)
    # the cache's other fields are exactly the reference's
    assert np.array_equal(c1.active, c0.active) and c1.active.dtype == np.bool_
    assert np.array_equal(c1.h_init, c0.h_init) and c1.h_init.dtype == c0.h_init.dtype
    assert np.array_equal(c1.r, c0.r) and np.array_equal(c1.reset, c0.reset)
    assert np.array_equal(c1.x, c0.x)
    assert (c1.t0, c1.h_init_given) == (c0.t0, c0.h_init_given)
    assert sorted(g1) == sorted(g0)
    for name in g0:
        assert_agrees(name, g1[name], g0[name], rtol)
    # structural zeros are exact (B9)
    spec = problem.spec
    assert np.all(g1["W_H"][~spec.M_H] == 0) and np.all(g1["W_I"][~spec.M_I] == 0)
    return out


@settings(max_examples=examples(300), deadline=None)
@given(problem=problems(spec_strategy=specs(max_size=4)), with_dh_last=st.booleans())
def test_numba_matches_numpy_float64(problem, with_dh_last):
    """Outputs, cache, last state and every gradient agree to 1e-12 on drawn specs."""
    assert_backends_agree(problem, problem.dh_last if with_dh_last else None, RTOL64)


@pytest.mark.slow
@settings(max_examples=examples(40), deadline=None)
@given(problem=problems(spec_strategy=specs(max_size=4), dtype=np.float32),
       with_dh_last=st.booleans())
def test_numba_matches_numpy_float32(problem, with_dh_last):
    """float32 stays float32 end to end and agrees to float32 rounding (1e-4, norm-wise)."""
    dh_last = problem.dh_last.astype(np.float32) if with_dh_last else None
    out = assert_backends_agree(problem, dh_last, RTOL32)
    y, cache, grads = out["numba"]
    assert y.dtype == cache.h.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


@pytest.mark.parametrize("B, D, O, sizes, preset", [
    (4, 8, 16, (4, 5, 8), "clockwork"),
    (5, 9, 17, (6, 1, 7), "full"),
    (7, 0, 16, (9, 4), "fast-to-slow"),
    (6, 13, 3, (5, 5, 5, 5), "lower-triangular"),
])
def test_numba_matches_numpy_on_wide_shapes(B, D, O, sizes, preset):
    """Batch >= 4, D >= 8, O >= 16 and modules of 5+ units take the kernels' other paths
    (four batch rows per pass, row-by-row input gradient, BLAS output gradient)."""
    rng = np.random.default_rng(B * 100 + D)
    n = len(sizes)
    spec = cw.ClockworkSpec(D, O, sizes, [1, 3, 2, 5][:n], [0, 1, 1, 4][:n], preset,
                            "all", learn_h0=True)
    L = 23
    params = random_params(spec, rng)
    x = rng.standard_normal((L, B, D))
    h_init = 0.5 * rng.standard_normal((B, spec.hidden_size))
    dy = rng.standard_normal((L, B, O))
    dh_last = rng.standard_normal((B, spec.hidden_size))
    out = {}
    for backend in ("numpy", "numba"):
        y, cache = cw.forward(params, spec, x, h_init=h_init, t0=4, resets=[9, 17],
                              backend=backend)
        out[backend] = (y, cache.h, cw.backward(params, spec, dy, cache, dh_last,
                                                backend=backend))
    (y0, h0, g0), (y1, h1, g1) = out["numpy"], out["numba"]
    assert_agrees("y", y1, y0, RTOL64)
    assert_agrees("h", h1, h0, RTOL64)
    for name in g0:
        assert_agrees(name, g1[name], g0[name], RTOL64)


@pytest.mark.parametrize("B, O", [(1, 16), (5, 18), (3, 4), (9, 7)])
def test_numba_chunked_outputs_equal_whole_run(B, O):
    """A run split in two gives the outputs of one run: bitwise for O < 16, where the kernel
    computes them step by step (B = 9 through BLAS), and to rounding for O >= 16, where one
    BLAS product over all steps computes them (BLAS may group a sum differently for a
    different number of rows). The states are bitwise equal in every case."""
    rng = np.random.default_rng(B * 10 + O)
    spec = cw.ClockworkSpec(3, O, (5, 6, 3), (1, 2, 4), connectivity="clockwork")
    params = random_params(spec, rng)
    L, k = 37, 13
    x = rng.standard_normal((L, B, 3))
    y, cache = cw.forward(params, spec, x, t0=2, backend="numba")
    y1, c1 = cw.forward(params, spec, x[:k], t0=2, backend="numba")
    y2, c2 = cw.forward(params, spec, x[k:], h_init=c1.h_last, t0=2 + k, backend="numba")
    assert np.array_equal(np.concatenate([c1.h, c2.h]), cache.h)
    if O < 16:
        assert np.array_equal(np.concatenate([y1, y2]), y)
    else:
        np.testing.assert_allclose(np.concatenate([y1, y2]), y, rtol=1e-13, atol=1e-14)
    y0, _ = cw.forward(params, spec, x, t0=2, backend="numpy")
    assert_agrees("y", y, y0, RTOL64)


@settings(max_examples=examples(100), deadline=None)
@given(problem=problems(spec_strategy=specs(max_size=4)))
def test_numba_holds_inactive_modules_bitwise(problem):
    """An inactive module's state is the entering state, bit for bit, at every step."""
    spec = problem.spec
    y, cache = cw.forward(problem.params, spec, problem.x, **problem.kwargs(), backend="numba")
    B = problem.x.shape[1]
    for t in range(len(problem.x)):
        if cache.reset[t]:
            prev = np.broadcast_to(cache.r, (B, spec.hidden_size))
        else:
            prev = cache.h_init if t == 0 else cache.h[t - 1]
        held = ~cache.active[t]
        assert np.array_equal(cache.h[t][:, held].view(np.uint64),
                              prev[:, held].view(np.uint64)), t


@settings(max_examples=examples(50), deadline=None)
@given(problem=problems(spec_strategy=specs(max_size=4)))
def test_either_backward_accepts_either_cache(problem):
    """A numpy cache through the numba backward (and back) gives the same gradients."""
    y, cache_np = cw.forward(problem.params, problem.spec, problem.x, **problem.kwargs())
    g_np = cw.backward(problem.params, problem.spec, problem.dy, cache_np, problem.dh_last)
    g_mixed = cw.backward(problem.params, problem.spec, problem.dy, cache_np, problem.dh_last,
                          backend="numba")
    for name in g_np:
        assert_agrees(name, g_mixed[name], g_np[name], RTOL64)


@pytest.mark.parametrize("call", ["forward", "backward"])
@pytest.mark.parametrize("name", ["numbaa", "NUMBA", "torch", "", None])
def test_bad_backend_name_raises(call, name):
    spec = cw.ClockworkSpec(1, 1, [2, 2], [1, 2])
    params = cw.init_params(spec, np.random.default_rng(0))
    x = np.zeros((3, 1, 1))
    with pytest.raises(ValueError, match="backend must be one of"):
        if call == "forward":
            cw.forward(params, spec, x, backend=name)
        else:
            y, cache = cw.forward(params, spec, x, backend="numba")
            cw.backward(params, spec, np.zeros_like(y), cache, backend=name)


def test_numba_is_registered_and_is_the_default():
    assert set(cw.BACKENDS) >= {"numpy", "numba"}
    spec = cw.ClockworkSpec(1, 1, [2], [1])
    y, cache = cw.forward(cw.init_params(spec, np.random.default_rng(0)), spec,
                          np.zeros((2, 1, 1)))
    assert cache.backend == "numba"


@pytest.mark.slow
def test_warmup_compiles_both_dtypes():
    seconds = numba_backend.warmup()
    assert set(seconds) == {"float64", "float32"}
    assert all(s >= 0 for s in seconds.values())


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="no signatures without JIT")
def test_kernels_compile_one_signature_per_dtype():
    """The wrappers pass the kernels named tuples of C-contiguous arrays of fixed kinds, so a
    kernel compiles once per dtype whatever the problem (small or large O, h_init, dh_last)."""
    numba_backend.warmup()
    rng = np.random.default_rng(3)
    for O, B in ((1, 1), (17, 4)):
        spec = cw.ClockworkSpec(9, O, (3, 2), (1, 2), learn_h0=True)
        params = random_params(spec, rng)
        x = rng.standard_normal((5, B, 9))
        y, cache = cw.forward(params, spec, x, h_init=np.zeros((B, 5)), resets=[2],
                              backend="numba")
        cw.backward(params, spec, rng.standard_normal(y.shape), cache,
                    rng.standard_normal((B, 5)), backend="numba")
    for kernel in (clockwork.clockwork_forward_kernel, clockwork.clockwork_backward_kernel,
                   clockwork.clock_lists, clockwork.active_lists):
        assert len(kernel.signatures) <= 2, kernel.signatures


@settings(max_examples=examples(100), deadline=None)
@given(periods=st.lists(st.sampled_from([1, 2, 3, 4, 5, 7, 8, 16]), min_size=1, max_size=5),
       data=st.data())
def test_clock_lists_are_the_clock(periods, data):
    """The kernels' CSR clock equals cwrnn_np.clock, module by module and unit by unit."""
    phases = [data.draw(st.integers(0, T - 1)) for T in periods]
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=len(periods),
                               max_size=len(periods)))
    L = data.draw(st.integers(0, 40))
    t0 = data.draw(st.integers(0, 300))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    lists = clockwork.clock_lists(
        np.array(periods, dtype=np.int64), np.array(phases, dtype=np.int64), offsets, L, t0)
    step_ptr, module, active = lists.step_ptr, lists.module, lists.active
    want = cw.clock(periods, phases, L, t0)                      # (L, n)
    assert step_ptr.shape == (L + 1,) and step_ptr[0] == 0
    for t in range(L):
        assert sorted(module[step_ptr[t]:step_ptr[t + 1]]) == list(np.flatnonzero(want[t]))
    assert np.array_equal(active, np.repeat(want, sizes, axis=1))
    again = clockwork.active_lists(active, offsets)
    assert np.array_equal(again.step_ptr, step_ptr)
    assert np.array_equal(np.sort(again.module), np.sort(module))


def test_kernel_tanh_is_within_one_and_a_half_ulp():
    """The kernels' branch-free tanh against long-double tanh (np.tanh: up to 1.2 ulp)."""
    rng = np.random.default_rng(0)
    x = np.concatenate([3 * rng.standard_normal(20000), rng.uniform(-25, 25, 20000),
                        10.0 ** rng.uniform(-300, 1.5, 20000) * rng.choice([-1, 1], 20000),
                        [0.0, -0.0, 0.625, -0.625, np.nextafter(0.625, 0), 19.0, 20.0, 21.0,
                         1e300, -1e300, 5e-324]])
    got = x.copy()
    special.tanh_inplace(got)
    exact = np.tanh(x.astype(np.longdouble))
    ulp = np.spacing(np.abs(exact).astype(np.float64))
    err = np.abs(got.astype(np.longdouble) - exact) / ulp
    assert err.max() <= 1.5, x[np.argmax(err)]
    assert np.array_equal(np.signbit(got), np.signbit(x))        # tanh(-0) = -0
    # float32 is computed in float64 and rounded once
    x32 = x[np.abs(x) < 1e30].astype(np.float32)
    got32 = x32.copy()
    special.tanh_inplace(got32)
    np.testing.assert_allclose(got32, np.tanh(x32.astype(np.float64)).astype(np.float32),
                               rtol=2 ** -23, atol=0)


def test_kernel_plan_lists_the_wired_pairs():
    spec = cw.ClockworkSpec(1, 1, [2, 3, 1], [1, 2, 4], connectivity="clockwork")
    plan = numba_backend.kernel_plan(spec)
    pairs = list(zip(plan.pair_dst, plan.pair_src))
    assert pairs == [(i, j) for i in range(3) for j in range(3) if spec.C[i, j]]
    for i in range(3):
        assert all(plan.pair_dst[plan.pair_ptr[i]:plan.pair_ptr[i + 1]] == i)
    for j in range(3):
        assert all(plan.pair_src[plan.src_pair[plan.src_pair_ptr[j]:plan.src_pair_ptr[j + 1]]]
                   == j)
    widths = np.diff(plan.pair_col)
    assert list(widths) == [spec.module_sizes[i] for i in plan.pair_dst]
    assert numba_backend.kernel_plan(spec) is plan                # memoised per spec
