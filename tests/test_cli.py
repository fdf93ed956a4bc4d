"""The ``cwrnn`` command line end to end, in tiny configurations, and its bad-input errors."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from cwrnn_np.cli import main

SHARED = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY = ["--set", "model.n_modules=3", "--set", "model.module_size=3", "--set",
        "train.steps=20", "--set", "train.eval_every=10", "--no-progress"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def gen_run(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["train", "generation", *TINY, "--set", "data.length=64"], capsys)
    assert code == 0, err
    return pathlib.Path(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_main_job_runs_with_no_flags(tmp_path):
    """`cwrnn train generation`, exactly as the README says, in a fresh process."""
    env = dict(os.environ, PYTHONWARNINGS="error::RuntimeWarning")
    res = subprocess.run([sys.executable, "-m", "cwrnn_np", "train", "generation"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    run = tmp_path / res.stdout.strip().splitlines()[-1]
    names = {p.name for p in run.iterdir()}
    assert {"metrics.jsonl", "checkpoint.npz", "checkpoint.json", "config.json", "final.json",
            "loss.png", "generation.png", "clock.png"} <= names
    final = json.loads((run / "final.json").read_text())
    assert final["test"]["nmse"] < 0.01           # the paper's CW-RNN reached 0.007
    assert "train generation" in res.stderr       # the progress bar
    steps = [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 5000


def test_train_evaluate_sample(gen_run, capsys):
    code, out, err = run_cli(["evaluate", str(gen_run)], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["step"] == 20 and report["test"]["nmse"] > 0
    code, out, err = run_cli(["sample", str(gen_run), "--length", "100"], capsys)
    assert code == 0, err
    assert np.load(gen_run / "sample.npy").shape == (100,)
    assert (gen_run / "sample.png").exists()


def test_resume_via_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["train", "generation", *TINY, "--until", "7"], capsys)
    assert code == 0, err
    run = out.strip().splitlines()[-1]
    code, out, err = run_cli(["train", "generation", "--resume", run, "--no-progress"], capsys)
    assert code == 0, err
    assert "resuming" in err and json.loads(
        (pathlib.Path(run) / "checkpoint.json").read_text())["step"] == 20


def test_text_sample(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.txt").write_text("hello (world) [of] {brackets} " * 50)
    code, out, err = run_cli(["train", "text", *TINY, "--set", "data.path=t.txt",
                              "--set", "train.batch_size=2", "--set", "data.length=8"], capsys)
    assert code == 0, err
    run = out.strip().splitlines()[-1]
    code, out, err = run_cli(["sample", run, "--length", "30", "--seed", "1"], capsys)
    assert code == 0, err
    assert len(out.rstrip("\n")) == 31 and set(out.rstrip("\n")) <= set("hello (world) [of] {brackets} ")


@pytest.mark.slow
def test_vowels_and_adding_train(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["vowels", "--set", f"data.data_dir={SHARED}", "--set", "train.batch_size=8"],
                 ["vowels", "--set", f"data.data_dir={SHARED}", "--set", "model.kind=lstm",
                  "--set", "model.hidden_size=6"],
                 ["adding", "--set", "data.length=10", "--set", "train.batch_size=4"]):
        code, out, err = run_cli(["train", *args, *TINY], capsys)
        assert code == 0, err
        assert "test:" in err


@pytest.mark.slow
def test_gradcheck_list_and_bench(capsys):
    code, out, err = run_cli(["gradcheck", "--backend", "all"], capsys)
    assert code == 0, out
    assert "all gradients agree" in out and out.count("numba") >= 16
    assert "lstm + peepholes" in out
    code, out, err = run_cli(["list"], capsys)
    assert code == 0 and "generation" in out and "upper-triangular" in out
    code = main(["bench", "--configs", "a", "--threads", "1", "--rounds", "2",
                 "--include", "numba,numpy"])
    out, err = capsys.readouterr()
    assert code == 0 and "(a) generation" in out and "numba speed-up over numpy" in out


@pytest.mark.parametrize("args, message", [
    (["train", "nosuchtask"], "unknown task 'nosuchtask'"),
    (["train", "generation", "--set", "model.colour=red"], "unknown key model.colour"),
    (["train", "generation", "--set", "train.steps=many"], "train.steps must be of type int"),
    (["train", "generation", "--set", "model.periods=[1,2]"], "model.periods has 2 entries"),
    (["train", "generation", "--config", "missing.toml"], "config file not found"),
    (["train", "generation", "--runs-dir", "afile/sub"], "cannot create runs folder"),
    (["train", "vowels", "--set", "data.data_dir=nowhere"], "nowhere"),
    (["train", "text", "--set", "data.path=missing.txt"], "missing.txt"),
    (["evaluate", "norun"], "run folder not found: norun"),
    (["evaluate", "corrupt"], "corrupt or truncated"),
    (["gradcheck", "--backend", "cuda"], "--backend must be one of"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(args, message, tmp_path, capsys,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("a file, not a folder")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "checkpoint.npz").write_bytes(b"garbage")
    code, out, err = run_cli(args + ["--no-progress"] if args[0] == "train" else args, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cwrnn: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err


def test_divergence_exits_1_with_a_message(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["train", "generation", *TINY, "--set", "optim.lr=1e30",
                              "--set", "optim.clip_norm=none"], capsys)
    assert code == 1
    assert "training diverged at step" in err and "last good checkpoint" in err
