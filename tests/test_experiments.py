"""The experiment pipelines end to end in CI-sized configurations (they prove the plumbing, not
the results; the full runs are in docs/experiments/)."""
import json
import pathlib

import numpy as np
import pytest

from cwrnn_np.experiments import CHARLM_CONFIGS, run_charlm, run_generation

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.slow
def test_generation_experiment_pipeline(tmp_path):
    res = run_generation(out_dir=tmp_path, budgets=(100,), families=("srn", "lstm", "cwrnn"),
                         clips=(0,), seeds=(0,), steps=20, progress=False, tag="g")
    assert len(res) == 3 and all(np.isfinite(r["nmse"]) for r in res)
    assert {r["params"] for r in res} == {100, 97, 106}
    md = (tmp_path / "g.md").read_text()
    assert "| cwrnn |" in md and "cwrnn experiment generation" in md and "Machine:" in md
    assert json.loads((tmp_path / "g.json").read_text())["settings"]["steps"] == 20
    assert (tmp_path / "g.png").stat().st_size > 0


@pytest.mark.slow
def test_charlm_small_pipeline(tmp_path):
    """Every row of the note's table, tiny networks, half a second of training each."""
    res = run_charlm(out_dir=tmp_path, path=SHARED / "tinyshakespeare.txt", seconds=0.5,
                     small=True, progress=False, tag="c", readout=16)
    assert {r["name"] for r in res} == set(CHARLM_CONFIGS)
    assert sorted(r["t0"] for r in res).count(0) == 2          # key rows at both clock starts
    for r in res:
        assert r["steps"] >= 1 and 0 < r["test"]["nats"] < 10
        assert len(r["samples"]) == 2 and all(len(s) == 161 for s in r["samples"])
    md = (tmp_path / "c.md").read_text()
    assert "Budget: 0.5 s" in md and "## Samples" in md and "--readout 16" in md
    assert "16-unit tanh layer" in md
    for name in ("c-loss.png", "c-gradient-flow.png"):
        assert (tmp_path / name).stat().st_size > 0
