"""Every tutorial runs: each ``tutorials/*.py`` (jupytext percent format) is executed as a script.

STYLE.md, "Docs and tutorials": a tutorial that never runs rots, so the suite executes all of them
from their one text source; the tutorials assert their own claims inline, so running them to the
end *is* the test. Each runs with :func:`runpy.run_path` in a fresh namespace, in a temporary
working directory, with the non-interactive Agg backend.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import matplotlib
import pytest

TUTORIALS_DIR = Path(__file__).resolve().parent.parent / "tutorials"
TUTORIALS = sorted(TUTORIALS_DIR.glob("*.py"))


@pytest.fixture
def agg(monkeypatch):
    """Agg backend for the tutorial (env var for fresh imports, ``use`` for an imported pyplot);
    no figure left behind."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.close("all")
    yield plt
    plt.close("all")


def test_tutorials_are_found():
    """An empty glob (moved or renamed directory) must fail, not silently test nothing."""
    assert TUTORIALS, f"no tutorials found in {TUTORIALS_DIR}"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_tutorial_runs(path, agg, tmp_path, monkeypatch):
    """The tutorial runs to the end (every inline assert holds) and closes its figures."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CWRNN_TUTORIAL_OUTDIR", raising=False)
    runpy.run_path(str(path), run_name="__main__")
    assert agg.get_fignums() == [], f"{path.name} left figures open: {agg.get_fignums()}"
    assert list(tmp_path.iterdir()) == [], f"{path.name} wrote files without being asked"


def test_mechanics_tutorial_saves_figures_when_asked(agg, tmp_path, monkeypatch):
    """With CWRNN_TUTORIAL_OUTDIR set, tutorial 01 writes its figures there as PNGs."""
    path = TUTORIALS_DIR / "01_clockwork_mechanics.py"
    out = tmp_path / "figures"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CWRNN_TUTORIAL_OUTDIR", str(out))
    runpy.run_path(str(path), run_name="__main__")
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert {"clock.png", "masks_wiring.png", "states.png"} <= set(pngs), pngs
    for p in out.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
