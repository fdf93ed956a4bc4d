"""Every ```python block in README.md and docs/*.md runs (blocks of one file share a namespace,
in order), so documented examples cannot rot."""
import pathlib
import re

import matplotlib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
ALL_DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *sorted((ROOT / "docs" / "experiments").glob("*.md"))]
#: the pages with runnable examples (pages without any have nothing to execute)
DOCS = [p for p in ALL_DOCS if BLOCK.search(p.read_text(encoding="utf-8"))]


def test_docs_exist_and_the_main_pages_have_examples():
    assert {"README.md", "model.md", "bptt.md", "notation.md", "usage.md",
            "performance.md", "architecture.md"} <= {p.name for p in ALL_DOCS}
    assert {"README.md", "model.md", "bptt.md", "lstm.md", "budgets.md",
            "variants.md", "architecture.md"} <= {p.name for p in DOCS}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_run(path, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall(path.read_text(encoding="utf-8"))
    namespace = {"__name__": "__docs__"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{path.name}[block {i}]", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{path.name} block {i} failed: {exc!r}\n{code}") from exc
