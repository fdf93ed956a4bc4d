"""Write the benchmark tables of docs/performance.md from the benchmark's JSON.

    python -m cwrnn_np.bench --configs a,b,c,d,d32,e,e32 --threads 1,2 --breakdown \
        --protocol --compile-times --json docs/bench/efficiency.json
    python docs/make_efficiency_table.py

Six tables, each between marker comments in docs/performance.md: efficiency and the speed-up
over PyTorch eager at one thread, against the targets; one thread against two; the CW-RNN
against an SRN; where the char-LM step's time goes; the note's protocol, timed; the main job's
first run. The documentation tests check that the
page holds exactly what this script makes of the JSON.
"""
import json
import pathlib

DOCS = pathlib.Path(__file__).resolve().parent
JSON = DOCS / "bench" / "efficiency.json"
PAGE = DOCS / "performance.md"

#: the targets of the performance work, one thread, float64: efficiency, and the numba
#: step's speed-up over the named PyTorch eager port. The float32 rows are measured against
#: the float64 peak too, so they are not compared with a target.
TARGETS = {"a": (15, "torch-masked", 30), "b": (40, "torch-active", 3),
           "c": (70, "torch-active", 1.5), "d": (60, "torch", 2), "e": (60, "torch", 2)}


def _marks(name: str) -> tuple[str, str]:
    return (f"<!-- {name} table: made by docs/make_efficiency_table.py -->",
            f"<!-- end of {name} table -->")


def _met(ok: bool) -> str:
    return "yes" if ok else "no"


def render_efficiency(record: dict) -> str:
    lines = [f"`{record['command']}`, on {record['machine']}; one thread.", "",
             "| config | numba ms | efficiency | target | met? | NumPy ref. ms (×) "
             "| PyTorch eager ms (×) | speed-up target | met? |",
             "|---|---|---|---|---|---|---|---|---|"]
    for res in record["threads"]["1"]:
        med, eff = res["median_s"], res["efficiency"]
        numba = med["numba"]
        eff_target, port, speed_target = TARGETS.get(res["config"], (None, None, None))
        ports = [p for p in ("torch-masked", "torch-active", "torch") if p in med]
        torch = "; ".join(f"{p}: {1e3 * med[p]:.2f} ({med[p] / numba:.1f}×)" for p in ports)
        row = [res["title"], f"{1e3 * numba:.2f}", f"{100 * eff['numba']:.1f} %"]
        if eff_target is None:
            row += ["", ""]
        else:
            row += [f"≥ {eff_target} %", _met(100 * eff["numba"] >= eff_target)]
        numpy = f"{1e3 * med['numpy']:.1f} ({med['numpy'] / numba:.1f}×)" if "numpy" in med \
            else ""
        row += [numpy, torch or "not run"]
        if speed_target is None or port not in med:
            row += ["", ""]
        else:
            row += [f"≥ {speed_target}× {port}", _met(med[port] / numba >= speed_target)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def render_threads(record: dict) -> str:
    counts = sorted(record["threads"], key=int)
    if len(counts) < 2:
        return "Only one thread count was measured."
    one, many = counts[0], counts[-1]
    by_config = {r["config"]: r for r in record["threads"][many]}
    lines = [f"The numba step at {one} and at {many} threads (same command, each thread count "
             f"in a fresh worker process):", "",
             f"| config | {one} thread ms | {many} threads ms | speed-up | dgemm peak "
             f"GFLOP/s, {one} / {many} threads |", "|---|---|---|---|---|"]
    for res in record["threads"][one]:
        other = by_config.get(res["config"])
        if other is None:
            continue
        t1, t2 = res["median_s"]["numba"], other["median_s"]["numba"]
        lines.append(f"| {res['title']} | {1e3 * t1:.2f} | {1e3 * t2:.2f} | {t1 / t2:.2f}× "
                     f"| {res['dgemm_peak_flops'] / 1e9:.1f} / "
                     f"{other['dgemm_peak_flops'] / 1e9:.1f} |")
    return "\n".join(lines)


def render_breakdown(record: dict) -> str:
    rows = record.get("breakdown", {}).get("1", [])
    if not rows:
        return "No breakdown was measured."
    lines = ["Phase by phase, one thread, numba backend (`--breakdown`; each phase timed on its "
             "own, in interleaved rounds):", ""]
    titles = [r["title"] for r in rows]
    lines += ["| phase | " + " | ".join(f"{t}: ms (share, efficiency)" for t in titles) + " |",
              "|---|" + "---|" * len(rows)]
    for phase in rows[0]["median_ms"]:
        cells = []
        for r in rows:
            ms = r["median_ms"][phase]
            share = 100 * ms / sum(r["median_ms"].values())
            flops = r["flops"][phase]
            eff = f", {100 * flops / r['dgemm_peak_flops'] / (ms / 1e3):.0f} %" if flops else ""
            cells.append(f"{ms:.1f} ({share:.0f} %{eff})")
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    lines.append("| sum | " + " | ".join(f"{sum(r['median_ms'].values()):.1f}" for r in rows)
                 + " |")
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


def render_srn(record: dict) -> str:
    lines = ["The CW-RNN against an SRN of the same H (one module, period 1), numba both, one "
             "thread; the FLOP ratio is the SRN's active work over the CW-RNN's (the paper's "
             "lower bound is g/4 for g exponentially clocked modules):", "",
             "| config | measured speed-up | FLOP ratio |", "|---|---|---|"]
    for res in record["threads"]["1"]:
        if "srn" not in res:
            continue
        med = res["srn"]["median_s"]
        lines.append(f"| {res['title']} | {med['srn'] / med['cwrnn']:.2f}× "
                     f"| {res['srn']['flops_step'] / res['flops_step']:.2f}× |")
    return "\n".join(lines)


def render_compile(record: dict) -> str:
    rows = record.get("compile_times")
    if not rows:
        return "Compile times were not measured."
    lines = ["`cwrnn train generation` in a fresh process, twice, sharing one new Numba cache "
             "(`--compile-times`; \"kernels ready\" is what the job's status line reports):", "",
             "| run | kernels ready, s | whole job, s | targets |", "|---|---|---|---|"]
    for r in rows:
        cold = r["label"].startswith("cold")
        target = (f"≤ 15 s: {_met(r['kernels_s'] <= 15)} | ≤ 30 s: {_met(r['job_s'] <= 30)}"
                  if cold else "")
        lines.append(f"| {r['label']} | {r['kernels_s']:.1f} | {r['job_s']:.1f} | {target} |")
    return "\n".join(lines)


RENDERERS = {"efficiency": render_efficiency, "threads": render_threads, "srn": render_srn,
             "breakdown": render_breakdown, "protocol": render_protocol,
             "compile": render_compile}


def blocks(record: dict) -> dict:
    """name -> the marked block of the page, for each table."""
    out = {}
    for name, render in RENDERERS.items():
        begin, end = _marks(name)
        out[name] = f"{begin}\n{render(record)}\n{end}"
    return out


def main():
    record = json.loads(JSON.read_text())
    page = PAGE.read_text()
    for name, text in blocks(record).items():
        begin, end = _marks(name)
        start, stop = page.index(begin), page.index(end) + len(end)
        page = page[:start] + text + page[stop:]
    PAGE.write_text(page)


if __name__ == "__main__":
    main()
