"""Write the efficiency table of docs/performance.md from the benchmark's JSON.

    python -m cwrnn_np.bench --configs a,b,c,d,d32,e,e32 --threads 1 --include numba,numpy \
        --protocol --json docs/bench/efficiency.json
    python docs/make_efficiency_table.py

The tables sit between marker comments in docs/performance.md; the documentation tests check
that they are exactly what this script makes of the JSON.
"""
import json
import pathlib

DOCS = pathlib.Path(__file__).resolve().parent
JSON = DOCS / "bench" / "efficiency.json"
PAGE = DOCS / "performance.md"
BEGIN = "<!-- efficiency table: made by docs/make_efficiency_table.py -->"
END = "<!-- end of efficiency table -->"
PROTOCOL_BEGIN = "<!-- protocol table: made by docs/make_efficiency_table.py -->"
PROTOCOL_END = "<!-- end of protocol table -->"

#: the targets of this project's performance work, one thread, float64 (the float32 rows are
#: measured against the float64 peak too, so they are not compared with a target)
TARGETS = {"a": "15 %", "b": "40 %", "c": "70 %", "d": "60 %", "e": "60 %"}


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


def render_protocol(record: dict) -> str:
    rows = record["protocol"]
    lines = [f"{rows[0]['steps']} consecutive steps of each, one thread, numba backend, "
             f"extrapolated to the note's 12,000 (from the same JSON):", "",
             "| config | ms per step (CPU) | CPU minutes for 12,000 steps |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['title']} | {1e3 * r['cpu_s'] / r['steps']:.1f} "
                     f"| {r['protocol_cpu_minutes']:.1f} |")
    return "\n".join(lines)


def block(record: dict) -> str:
    return f"{BEGIN}\n{render(record)}\n{END}"


def protocol_block(record: dict) -> str:
    return f"{PROTOCOL_BEGIN}\n{render_protocol(record)}\n{PROTOCOL_END}"


def _replace(page: str, begin: str, end: str, text: str) -> str:
    start, stop = page.index(begin), page.index(end) + len(end)
    return page[:start] + text + page[stop:]


def main():
    record = json.loads(JSON.read_text())
    page = _replace(PAGE.read_text(), BEGIN, END, block(record))
    page = _replace(page, PROTOCOL_BEGIN, PROTOCOL_END, protocol_block(record))
    PAGE.write_text(page)


if __name__ == "__main__":
    main()
