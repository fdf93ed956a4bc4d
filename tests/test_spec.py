"""Schedules, connectivity presets, the clock, phase splitting and parameter initialisation."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cwrnn_np as cw
from cwrnn_np import schedules
from strategies import examples, specs


def test_schedules():
    assert schedules.exponential(5) == [1, 2, 4, 8, 16]
    assert schedules.exponential(3, base=4) == [1, 4, 16]
    assert schedules.exponential(4, base=1.5) == [1, 2, 2, 3]
    assert schedules.fibonacci(6) == [1, 2, 3, 5, 8, 13]
    assert schedules.symmetric([1, 4, 16]) == [1, 4, 16, 4, 1]
    assert schedules.symmetric(5, base=4) == [1, 4, 16, 4, 1]
    assert schedules.symmetric(schedules.fibonacci(3)) == [1, 2, 3, 2, 1]
    assert schedules.linear(4) == [1, 2, 3, 4]
    assert schedules.linear(3, step=5, start=2) == [2, 7, 12]
    a = schedules.random(6, 2, 9, np.random.default_rng(3))
    assert a == schedules.random(6, 2, 9, np.random.default_rng(3))
    assert a == sorted(a) and all(2 <= p <= 9 for p in a)
    assert schedules.lcm([2, 3, 4]) == 12
    for bad, match in [(lambda: schedules.exponential(0), "n must be an integer >= 1, got 0"),
                       (lambda: schedules.exponential(3, base=1), "base must be a real number > 1"),
                       (lambda: schedules.symmetric(4), "odd n"),
                       (lambda: schedules.random(3, 5, 2, np.random.default_rng()), "high must be >= low"),
                       (lambda: schedules.random(3, 1, 2, 0), "rng must be a numpy.random.Generator")]:
        with pytest.raises(ValueError, match=match):
            bad()


def test_connectivity_presets_on_a_symmetric_schedule():
    T = [1, 4, 16, 4, 1]
    C = {name: cw.masks.connectivity_matrix(name, T) for name in cw.masks.CONNECTIVITY_PRESETS}
    Ti, Tj = np.array(T)[:, None], np.array(T)[None, :]
    assert np.array_equal(C["clockwork"], Tj >= Ti)
    assert np.array_equal(C["full"], np.ones((5, 5), bool))
    assert np.array_equal(C["fast-to-slow"], C["clockwork"].T)
    assert np.array_equal(C["block-diagonal"], np.eye(5, dtype=bool))
    assert np.array_equal(C["lower-triangular"], C["upper-triangular"].T)
    assert np.array_equal(C["clockwork-strict"], np.eye(5, dtype=bool) | (Tj > Ti))
    # clockwork-strict: the two period-1 modules do not read each other, clockwork does
    assert C["clockwork"][0, 4] and not C["clockwork-strict"][0, 4]
    # positional wiring builds fast -> slow -> fast: module 4 (T=1) feeds module 2 (T=16),
    # which feeds module 0 (T=1); the paper's wiring never lets a fast module feed a slow one
    U = C["upper-triangular"]
    assert U[2, 4] and U[0, 2] and not C["clockwork"][2, 4]
    # with ascending periods, positional and period-based wiring coincide
    asc = schedules.exponential(5)
    assert np.array_equal(cw.masks.connectivity_matrix("upper-triangular", asc),
                          cw.masks.connectivity_matrix("clockwork", asc))


def test_input_routing_presets_and_unit_masks():
    spec = cw.ClockworkSpec(3, 1, [2, 1, 2], [2, 1, 1], input_modules="fastest",
                            connectivity="full")
    assert spec.R.tolist() == [False, True, True]
    assert spec.M_I.shape == (5, 3)
    assert spec.M_I.tolist() == [[False] * 3] * 2 + [[True] * 3] * 3
    assert spec.M_H.shape == (5, 5) and spec.M_H.all()
    params = cw.init_params(spec, np.random.default_rng(0))
    assert np.all(params["W_I"][:2] == 0) and np.all(params["W_I"][2:] != 0)


@settings(max_examples=examples(50))
@given(spec=specs(), seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from([np.float32, np.float64]))
def test_init_params_shapes_dtypes_and_structural_zeros(spec, seed, dtype):
    params = cw.init_params(spec, np.random.default_rng(seed), dtype=dtype)
    assert cw.validate_params(params, spec) == np.dtype(dtype)
    for name, shape in spec.param_shapes().items():
        assert params[name].shape == shape and params[name].dtype == dtype
    assert np.all(params["W_H"][~spec.M_H] == 0)
    assert np.all(params["W_I"][~spec.M_I] == 0)
    assert np.all(params["W_H"][spec.M_H] != 0)  # free entries are drawn, not left at zero
    again = cw.init_params(spec, np.random.default_rng(seed), dtype=dtype)
    assert all(np.array_equal(params[k], again[k]) for k in params)  # seed reproduces


def test_clock():
    # t0 = 0, zero phases: every module fires at the first step
    a = cw.clock([1, 2, 3], [0, 0, 0], L=7)
    assert a[0].all()
    assert a[:, 1].tolist() == [True, False] * 3 + [True]
    assert a[:, 2].tolist() == [True, False, False, True, False, False, True]
    # t0 continues the clock; phases shift it
    assert np.array_equal(cw.clock([3], [0], L=4, t0=5)[:, 0], [False, True, False, False])
    assert np.array_equal(cw.clock([3], [2], L=6)[:, 0], [False, False, True, False, False, True])
    whole = cw.clock([2, 3, 5], [1, 0, 4], L=20, t0=3)
    assert np.array_equal(np.concatenate([cw.clock([2, 3, 5], [1, 0, 4], 8, 3),
                                          cw.clock([2, 3, 5], [1, 0, 4], 12, 11)]), whole)


def test_split_phases_takes_turns_and_connects_mutually():
    base = cw.ClockworkSpec(2, 1, [3, 2, 2], [1, 2, 4], connectivity="clockwork-strict",
                            input_modules=[True, False, True])
    oe = cw.odd_even(base)
    assert oe.module_sizes == (3, 3, 2, 2)
    assert oe.periods == (2, 2, 2, 4) and oe.phases == (0, 1, 0, 0)
    a = oe.active(12)
    # the two halves take turns: exactly one of them fires at each step the original fired
    assert np.array_equal(a[:, 0] ^ a[:, 1], base.active(12)[:, 0])
    assert not (a[:, 0] & a[:, 1]).any()
    # mutually connected even though clockwork-strict alone would not connect equal periods
    assert oe.C[0, 1] and oe.C[1, 0]
    # inherited wiring and routing: module 2 (old 1) is read by both halves as before
    assert oe.C[0, 2] and oe.C[1, 2] and not oe.C[2, 0]
    assert oe.R.tolist() == [True, True, False, True]
    rr = cw.round_robin(base, index=1, k=4)
    assert rr.periods == (1, 8, 8, 8, 8, 4) and rr.phases == (0, 0, 2, 4, 6, 0)
    a = rr.active(40)
    assert np.array_equal(a[:, 1:5].sum(axis=1) == 1, base.active(40)[:, 1])
    with pytest.raises(ValueError, match="index must be < n_modules"):
        cw.split_phases(base, 3, 2)
    with pytest.raises(ValueError, match="k must be >= 2"):
        cw.split_phases(base, 0, 1)


def test_spec_serialises_to_json_and_back():
    spec = cw.ClockworkSpec(2, 3, [2, 2], [1, 3], phases=[0, 2],
                            connectivity=np.array([[True, False], [True, True]]),
                            input_modules=[True, False], learn_h0=True)
    d = json.loads(json.dumps(spec.to_dict()))
    again = cw.ClockworkSpec(**d)
    assert again == spec and hash(again) == hash(spec)
    assert np.array_equal(again.C, spec.C)


def test_derived_arrays_are_read_only():
    spec = cw.ClockworkSpec(1, 1, [2, 2], [1, 2])
    with pytest.raises(ValueError):
        spec.M_H[0, 0] = False
