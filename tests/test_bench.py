"""The benchmark's work counts: the necessary work of the efficiency column, checked by hand and
against a step-by-step count, and the efficiency printed for every implementation."""
import numpy as np
import pytest

import cwrnn_np as cw
from cwrnn_np.bench.runner import (CONFIGS, format_result, make_problem, necessary_flops,
                                   step_flops)


def test_necessary_work_by_hand():
    # two 1-unit modules, periods [1, 2], slow feeds fast: C = [[1, 1], [0, 1]], L = 4, B = 3.
    # input: module 0 fires 4 times, module 1 twice -> 6; recurrent: (0, 0) reads 4 versions,
    # (0, 1) reads 3 (the initial state, and h_1 from steps 0 and 2), (1, 1) reads 2 -> 9;
    # output: O H L = 1 * 2 * 4 = 8. Multiply-adds 23 per batch row, FLOPs twice that.
    spec = cw.ClockworkSpec(1, 1, [1, 1], [1, 2], connectivity="clockwork")
    fwd, step = necessary_flops(spec, L=4, B=3)
    assert fwd == 2 * 23 * 3 and step == 3 * fwd


def _brute_force(spec, L, B):
    """Walk the steps, tracking the version each module's state has."""
    k, version, seen, macs = spec.module_sizes, [-1] * spec.n_modules, set(), 0
    active = spec.active(L, 0)
    for t in range(L):
        for i in np.flatnonzero(active[t]):
            macs += B * k[i] * spec.input_size * int(spec.R[i])
            for j in np.flatnonzero(spec.C[i]):
                if (i, j, version[j]) not in seen:
                    seen.add((i, j, version[j]))
                    macs += B * k[i] * k[j]
        for i in np.flatnonzero(active[t]):
            version[i] = t
        macs += B * spec.output_size * spec.hidden_size
    return 2.0 * macs


@pytest.mark.parametrize("key", sorted(CONFIGS))
@pytest.mark.parametrize("connectivity", ["clockwork", "full"])
def test_necessary_work_matches_a_step_by_step_count(key, connectivity):
    spec, *_ = make_problem(CONFIGS[key], connectivity=connectivity)
    L, B = CONFIGS[key]["L"], CONFIGS[key]["B"]
    fwd, _ = necessary_flops(spec, L, B)
    assert fwd == _brute_force(spec, L, B)
    assert fwd <= step_flops(spec, L, B)[0]       # never more than the active work


def test_an_srn_needs_all_of_its_active_work():
    spec = cw.srn_spec(input_size=3, output_size=2, hidden_size=5)
    assert necessary_flops(spec, 7, 4) == step_flops(spec, 7, 4)


def test_the_table_prints_efficiency_for_every_implementation():
    res = dict(config="a", title="(a) generation", rounds=3, flops_step=8e6, flops_fwd=8e6 / 3,
               necessary_flops_step=2e6, dgemm_peak_flops=1e10,
               median_s={"numba": 1e-3, "numpy": 2e-2},
               efficiency={"numba": 0.2, "numpy": 0.01})
    text = format_result(res, 1)
    assert "necessary work: 2.00 MFLOP" in text and "dgemm peak 10.0 GFLOP/s" in text
    assert "20.00%" in text and "1.00%" in text


def test_the_efficiency_table_is_made_from_its_json():
    """docs/performance.md's efficiency table is what docs/make_efficiency_table.py makes of
    docs/bench/efficiency.json: no number in it is typed by hand."""
    import importlib.util
    import json
    import pathlib

    docs = pathlib.Path(__file__).resolve().parents[1] / "docs"
    spec = importlib.util.spec_from_file_location("make_efficiency_table",
                                                  docs / "make_efficiency_table.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    record = json.loads((docs / "bench" / "efficiency.json").read_text())
    page = (docs / "performance.md").read_text()
    assert maker.block(record) in page and maker.protocol_block(record) in page
    assert record["command"].startswith("python -m cwrnn_np.bench")
    assert {r["config"] for r in record["protocol"]} == {"d", "d32", "e", "e32"}


def test_the_charlm_step_counts_the_readout_and_trains():
    """Configs d and e: the readout's work is counted on top of the network's, and the step
    (forward, cross-entropy, backward, Adam) lowers the loss on its fixed batch."""
    from cwrnn_np.bench.runner import CharLMStep, charlm_flops, charlm_problem
    cfg = dict(CONFIGS["d"], sizes=[4, 4, 4], O=6, readout=5, D=5, L=9, B=2)
    net, params, x, targets = charlm_problem(cfg)
    active, necessary = charlm_flops(net, cfg["L"], cfg["B"])
    readout = 3 * 2 * cfg["L"] * cfg["B"] * 5 * 6
    assert active == step_flops(net.spec, 9, 2)[1] + readout
    assert necessary == necessary_flops(net.spec, 9, 2)[1] + readout
    step = CharLMStep("numba", net, params, x, targets)
    losses = [step() for _ in range(30)]
    assert losses[-1] < losses[0] and step.params is not params
