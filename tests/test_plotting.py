"""Tests of :mod:`cwrnn_np.viz.plotting`: each picture shows the array it claims to show.

The data behind each image is read back from the Axes (``ax.images[0].get_array()``) and compared
with the spec's own arrays, and also with small hand-written expectations, so that a transposed
or mislabelled picture fails. Bad arguments must raise ``ValueError`` naming the argument.
"""
from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402

import cwrnn_np as cw  # noqa: E402
from cwrnn_np import plotting  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _spec(periods, sizes=None, phases=None, connectivity="clockwork"):
    sizes = [2] * len(periods) if sizes is None else sizes
    return cw.ClockworkSpec(input_size=1, output_size=1, module_sizes=sizes, periods=periods,
                            phases=phases, connectivity=connectivity)


def _image(ax):
    assert isinstance(ax, Axes)
    assert len(ax.images) == 1
    return np.asarray(ax.images[0].get_array())


def _labels(ticklabels):
    return [t.get_text() for t in ticklabels]


def test_importing_the_package_does_not_import_pyplot():
    code = ("import sys, cwrnn_np, cwrnn_np.viz.plotting; "
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# ----- plot_clock --------------------------------------------------------------------------------
@pytest.mark.parametrize("t0", [0, 1, 7])
def test_plot_clock_image_is_the_clock(t0):
    spec = _spec([3, 5, 7], phases=[1, 2, 0])  # periods that do not divide each other
    L = 23
    ax = plotting.plot_clock(spec, L, t0=t0)
    img = _image(ax)
    assert img.shape == (spec.n_modules, L)  # module x time
    assert np.array_equal(img, spec.active(L, t0).T)
    # by hand: module 0 (T=3, phase 1) is active at global steps 1, 4, 7, ...
    assert np.array_equal(np.flatnonzero(img[0]) + t0,
                          [s for s in range(t0, t0 + L) if s % 3 == 1])
    assert _labels(ax.get_yticklabels()) == ["0: T=3 φ=1", "1: T=5 φ=2", "2: T=7 φ=0"]
    # the x axis is in global steps t0 .. t0 + L - 1
    left, right, _, _ = ax.images[0].get_extent()
    assert (left, right) == (t0 - 0.5, t0 + L - 0.5)


def test_plot_clock_draws_into_the_given_axes():
    fig, (a, b) = plt.subplots(1, 2)
    spec = _spec([1, 2])
    assert plotting.plot_clock(spec, 4, ax=b) is b
    assert len(a.images) == 0 and len(b.images) == 1
    assert len(fig.axes) == 2  # no new axes or figure


@pytest.mark.parametrize("L", [0, -3, 2.5, True, "8", None])
def test_plot_clock_rejects_bad_L(L):
    with pytest.raises(ValueError, match="L must be"):
        plotting.plot_clock(_spec([1, 2]), L)


@pytest.mark.parametrize("t0", [-1, 1.0, False])
def test_plot_clock_rejects_bad_t0(t0):
    with pytest.raises(ValueError, match="t0 must be"):
        plotting.plot_clock(_spec([1, 2]), 4, t0=t0)


# ----- plot_connectivity -------------------------------------------------------------------------
@pytest.mark.parametrize("preset", cw.masks.CONNECTIVITY_PRESETS)
def test_plot_connectivity_image_is_C(preset):
    spec = _spec(cw.schedules.symmetric([1, 4, 16]), connectivity=preset)
    ax = plotting.plot_connectivity(spec)
    img = _image(ax)
    assert img.shape == (5, 5)
    assert np.array_equal(img, spec.C)
    assert _labels(ax.get_xticklabels()) == ["T=1", "T=4", "T=16", "T=4", "T=1"]
    assert _labels(ax.get_yticklabels()) == ["T=1", "T=4", "T=16", "T=4", "T=1"]


def test_plot_connectivity_rows_receive_columns_send():
    # the paper's wiring with a fast and a slow module: slow (j=1) feeds fast (i=0), not back
    ax = plotting.plot_connectivity(_spec([1, 16]))
    assert np.array_equal(_image(ax), [[1, 1], [0, 1]])
    assert "receiving" in ax.get_ylabel() and "sending" in ax.get_xlabel()


def test_plot_connectivity_custom_matrix_and_phases():
    C = np.array([[True, False, True], [True, True, False], [False, True, True]])
    spec = _spec([2, 2, 3], phases=[0, 1, 2], connectivity=C)
    ax = plotting.plot_connectivity(spec)
    assert np.array_equal(_image(ax), C)
    assert _labels(ax.get_yticklabels()) == ["T=2 φ=0", "T=2 φ=1", "T=3 φ=2"]
    assert "custom" in ax.get_title()


# ----- plot_hidden_mask --------------------------------------------------------------------------
def test_plot_hidden_mask_image_is_M_H_with_boundaries():
    spec = _spec([1, 2, 4], sizes=[2, 3, 1])  # unequal sizes: boundaries at units 2 and 5
    ax = plotting.plot_hidden_mask(spec)
    img = _image(ax)
    assert img.shape == (6, 6)
    assert np.array_equal(img, spec.M_H)
    # by hand: unit 2 (module 1, T=2) reads modules 1 and 2 but not module 0
    assert np.array_equal(img[2], [0, 0, 1, 1, 1, 1])
    lines = [ln.get_xydata() for ln in ax.lines]
    horizontal = sorted(xy[0, 1] for xy in lines if xy[0, 1] == xy[1, 1])
    vertical = sorted(xy[0, 0] for xy in lines if xy[0, 0] == xy[1, 0])
    assert horizontal == vertical == [1.5, 4.5]
    assert _labels(ax.get_yticklabels()) == ["T=1", "T=2", "T=4"]
    assert np.allclose(ax.get_yticks(), [0.5, 3.0, 5.0])  # module centres


def test_plot_hidden_mask_of_odd_even_spec():
    spec = cw.odd_even(_spec(cw.schedules.exponential(4), sizes=[4] * 4))
    ax = plotting.plot_hidden_mask(spec)
    assert np.array_equal(_image(ax), spec.M_H)
    assert len(ax.lines) == 2 * (spec.n_modules - 1)


# ----- plot_states -------------------------------------------------------------------------------
@pytest.mark.parametrize("b", [0, 2])
def test_plot_states_image_is_h_of_one_batch_element(b):
    spec = _spec([1, 3], sizes=[2, 3])
    params = cw.init_params(spec, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((9, 3, 1))  # (L, B, D)
    _, cache = cw.forward(params, spec, x)
    ax = plotting.plot_states(cache.h, spec, b=b)
    img = _image(ax)
    assert img.shape == (spec.hidden_size, 9)  # (H, L)
    assert np.array_equal(img, cache.h[:, b, :].T)
    assert ax.images[0].get_clim() == (-1.0, 1.0)
    assert sorted(ln.get_xydata()[0, 1] for ln in ax.lines) == [1.5]  # one module boundary


def _h(L=4, B=2, H=4):
    return np.zeros((L, B, H))


@pytest.mark.parametrize("h, b, match", [
    (np.zeros((4, 4)), 0, "h must be an"),          # rank 2
    (_h(H=5), 0, "hidden_size"),                    # wrong H
    (_h(L=0), 0, "L >= 1"),                         # no steps
    (_h(), 2, "b must be < B"),                     # b out of range
    (_h(), -1, "b must be >="),
    (_h(), 0.0, "b must be an integer"),
    (np.zeros((4, 2, 4), dtype=int), 0, "floating"),
    ([[[0.0] * 4]], 0, "h must be an"),             # not an array
])
def test_plot_states_rejects_bad_arguments(h, b, match):
    with pytest.raises(ValueError, match=match):
        plotting.plot_states(h, _spec([1, 2]), b=b)


# ----- every function ----------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda s, **k: plotting.plot_clock(s, 4, **k),
    lambda s, **k: plotting.plot_connectivity(s, **k),
    lambda s, **k: plotting.plot_hidden_mask(s, **k),
    lambda s, **k: plotting.plot_states(np.zeros((3, 1, 4)), s, **k),
], ids=["clock", "connectivity", "hidden_mask", "states"])
def test_bad_spec_and_bad_ax_raise(call):
    spec = _spec([1, 2])
    with pytest.raises(ValueError, match="spec must be a ClockworkSpec"):
        call(spec.to_dict())
    with pytest.raises(ValueError, match="ax must be a matplotlib Axes"):
        call(spec, ax=plt.figure())
    fig, ax = plt.subplots()
    assert call(spec, ax=ax) is ax


def test_module_labels():
    spec = _spec([1, 4], phases=[0, 3])
    assert plotting.module_labels(spec) == ["T=1 φ=0", "T=4 φ=3"]
    assert plotting.module_labels(spec, "never") == ["T=1", "T=4"]
    assert plotting.module_labels(_spec([1, 4]), "auto") == ["T=1", "T=4"]
    assert plotting.module_labels(spec, sep="\n") == ["T=1\nφ=0", "T=4\nφ=3"]
    with pytest.raises(ValueError, match="phase must be"):
        plotting.module_labels(spec, "sometimes")
