"""Lines of the kernel files now and at an earlier commit, as a Markdown table.

"code" counts the lines that are neither blank, comments nor docstrings.

    python benchmarks/kernel_lines.py [--before 26ed17f]
"""
from __future__ import annotations

import argparse
import ast
import subprocess

FILES = ["cwrnn_np/models/clockwork/kernels.py", "cwrnn_np/models/selection/kernels.py",
         "cwrnn_np/models/learned_periods/kernels.py", "cwrnn_np/models/lstm/kernels.py",
         "cwrnn_np/kernels/linalg.py", "cwrnn_np/kernels/held.py"]


def code_lines(source: str) -> int:
    """Lines that are not blank, not comment-only and not part of a docstring."""
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and body \
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i, line in enumerate(source.splitlines(), 1)
               if line.strip() and not line.strip().startswith("#") and i not in docstrings)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", default="26ed17f", help="the earlier commit (default 26ed17f)")
    args = parser.parse_args(argv)
    totals = [0, 0, 0, 0]
    for path in FILES:
        old = subprocess.run(["git", "show", f"{args.before}:{path}"], capture_output=True,
                             text=True, check=True).stdout
        with open(path) as fh:
            new = fh.read()
        row = [len(old.splitlines()), len(new.splitlines()), code_lines(old), code_lines(new)]
        totals = [a + b for a, b in zip(totals, row)]
        print(f"| `{path}` | " + " | ".join(str(v) for v in row) + " |")
    print("| all six | " + " | ".join(str(v) for v in totals) + " |")


if __name__ == "__main__":
    main()
