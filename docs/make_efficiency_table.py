"""Write the efficiency table of docs/performance.md from the benchmark's JSON.

    OMP_NUM_THREADS=1 python -m cwrnn_np.bench --configs a,b,c --threads 1 \
        --include numba,numpy --json docs/bench/efficiency.json
    python docs/make_efficiency_table.py

The table sits between the two marker comments in docs/performance.md; the documentation tests
check that it is exactly what this script makes of the JSON.
"""
import json
import pathlib

DOCS = pathlib.Path(__file__).resolve().parent
JSON = DOCS / "bench" / "efficiency.json"
PAGE = DOCS / "performance.md"
BEGIN = "<!-- efficiency table: made by docs/make_efficiency_table.py -->"
END = "<!-- end of efficiency table -->"

#: the targets of this project's performance work, one thread
TARGETS = {"a": "15 %", "b": "40 %", "c": "70 %"}


def render(record: dict) -> str:
    lines = [f"`{record['command']}`, on {record['machine']}.", "",
             "| config | implementation | median ms | necessary MFLOP | dgemm peak GFLOP/s "
             "| efficiency | target |",
             "|---|---|---|---|---|---|---|"]
    for threads, results in record["threads"].items():
        for res in results:
            for name, seconds in sorted(res["median_s"].items(), key=lambda kv: kv[1]):
                target = TARGETS.get(res["config"], "") if name == "numba" and threads == "1" \
                    else ""
                lines.append(
                    f"| {res['title']} ({threads} thread{'s' if threads != '1' else ''}) | {name} "
                    f"| {seconds * 1e3:.3f} | {res['necessary_flops_step'] / 1e6:.2f} "
                    f"| {res['dgemm_peak_flops'] / 1e9:.1f} "
                    f"| {100 * res['efficiency'][name]:.1f} % | {target} |")
    return "\n".join(lines)


def block(record: dict) -> str:
    return f"{BEGIN}\n{render(record)}\n{END}"


def main():
    record = json.loads(JSON.read_text())
    page = PAGE.read_text()
    start, stop = page.index(BEGIN), page.index(END) + len(END)
    PAGE.write_text(page[:start] + block(record) + page[stop:])


if __name__ == "__main__":
    main()
