#!/usr/bin/env python3
"""Summarize bench/validate-convert.sh results as Markdown.

usage: summarize.py OUT_DIR   (reads OUT_DIR/results/*.json and machine.txt, OUT_DIR/inputs/*.yaml)
"""
import json
import os
import statistics
import sys

COMMANDS = [
    ("validate", "validate"),
    ("convert-worker", "convert"),
    ("convert-policy-loader", "convert --type policy-loader"),
]


def fmt_time(seconds):
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.01:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds * 1000:.1f} ms"


def fmt_ratio(ratio):
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2g}×"


def fmt_rss(value):
    return f"{value / 1048576:.0f}" if value else "–"


def load(results, case, impl):
    """{mean, stddev, runs, rss} from hyperfine 1.x ("mean"), hyperfine 2.x ("measurements") or the date loop."""
    path = os.path.join(results, f"{case}.{impl}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        r = json.load(f)["results"][0]
    if "measurements" in r:
        times = [m["time_wall_clock"]["value"] for m in r["measurements"]]
        rss = [m["memory_peak_resident"]["value"] for m in r["measurements"] if "memory_peak_resident" in m]
    else:
        times = r.get("times") or [r["mean"]]
        rss = []
    return {
        "mean": statistics.mean(times),
        "stddev": statistics.stdev(times) if len(times) > 1 else 0.0,
        "runs": len(times),
        "rss": max(rss) if rss else None,
    }


def generated(name):
    """('forward', 1000) for gen-forward-1000, else None."""
    if not name.startswith("gen-"):
        return None
    kind, size = name[4:].rsplit("-", 1)
    return kind, int(size)


def input_order(name):
    g = generated(name)
    return (1, g[0], g[1]) if g else (0, name, 0)


def main():
    out = sys.argv[1]
    results = os.path.join(out, "results")
    inputs = sorted((f[:-5] for f in os.listdir(os.path.join(out, "inputs")) if f.endswith(".yaml")), key=input_order)
    machine = {}
    with open(os.path.join(results, "machine.txt")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            machine[key] = value
    impls = ["reference", "ours"] + (["candidate"] if machine.get("candidate") else [])

    print(f"Machine: {machine.get('cpu')}, {machine.get('nproc')} CPUs, Linux {machine.get('kernel')}.  ")
    print(f"Reference: kresctl {machine.get('reference')}; ours: {machine.get('ours')} (release build).  ")
    if "candidate" in impls:
        print(f"Candidate: {machine['candidate']}.  ")
    print(f"Method: {machine.get('method')}; mean ± standard deviation of whole-process wall time (runs), "
          "output discarded; RSS = peak resident memory in MiB (maximum over the runs).")
    print()
    header = "| input | size | command | reference | ours | ref / ours |"
    rule = "|---|---:|---|---:|---:|---:|"
    if "candidate" in impls:
        header += " candidate | ref / cand. |"
        rule += "---:|---:|"
    header += " RSS ref / " + " / ".join(impls[1:]) + " |"
    rule += "---:|"
    print(header)
    print(rule)
    data = {}
    for name in inputs:
        size = os.path.getsize(os.path.join(out, "inputs", name + ".yaml"))
        size_text = f"{size / 1024:.0f} KiB" if size >= 10240 else f"{size} B"
        for case_suffix, command in COMMANDS:
            case = f"{name}.{case_suffix}"
            r = {impl: load(results, case, impl) for impl in impls}
            if not all(r.values()):
                continue
            data[(name, case_suffix)] = r
            cells = [name, size_text, command]
            for impl in impls[1:]:
                if impl == "ours":
                    cells.append(f"{fmt_time(r['reference']['mean'])} ± {fmt_time(r['reference']['stddev'])} ({r['reference']['runs']})")
                cells.append(f"{fmt_time(r[impl]['mean'])} ± {fmt_time(r[impl]['stddev'])} ({r[impl]['runs']})")
                cells.append(fmt_ratio(r["reference"]["mean"] / r[impl]["mean"]))
            cells.append(" / ".join(fmt_rss(r[impl]["rss"]) for impl in impls))
            print("| " + " | ".join(cells) + " |")

    # Growth with size: time at each size relative to the previous size (×10 items → ×N time).
    print()
    print("Growth of the generated inputs (time at this size / time at the previous size):")
    print()
    header = "| input | items | command | " + " | ".join(impls) + " |"
    print(header)
    print("|---|---:|---|" + "---:|" * len(impls))
    kinds = sorted({generated(n)[0] for n in inputs if generated(n)})
    for kind in kinds:
        sizes = sorted(generated(n)[1] for n in inputs if generated(n) and generated(n)[0] == kind)
        for case_suffix, command in COMMANDS:
            for prev, size in zip(sizes, sizes[1:]):
                a, b = data.get((f"gen-{kind}-{prev}", case_suffix)), data.get((f"gen-{kind}-{size}", case_suffix))
                if not a or not b:
                    continue
                cells = [f"gen-{kind}", f"{prev} → {size}", command]
                cells += [f"×{b[impl]['mean'] / a[impl]['mean']:.1f}" for impl in impls]
                print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
