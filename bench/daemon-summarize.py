#!/usr/bin/env python3
"""Markdown tables from the results of bench/daemon.sh: daemon-summarize.py OUT_DIR.

Every figure is "median (min–max)" over the runs named by n; ratios are reference/ours for times (how many times
faster ours is) and ours/reference for throughput. The targets are those of issue 4 item 9 and issue 5 item 10.
"""

import glob
import json
import os
import re
import statistics
import sys

OUT = sys.argv[1]
R = os.path.join(OUT, "results")


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_ms(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def cell(xs, f=fmt_ms, unit=""):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    return f"{f(med(xs))}{unit} ({f(min(xs))}–{f(max(xs))}), n={len(xs)}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    r = a / b
    return f"{r:.0f}×" if r >= 20 else f"{r:.1f}×"


def yes(ok):
    return "**yes**" if ok else "**no**"


def read_lines(path, scale=1.0):
    try:
        with open(path) as f:
            return [float(x) * scale for x in f.read().split()]
    except FileNotFoundError:
        return []


def machine():
    d = {}
    try:
        for line in open(os.path.join(R, "machine.txt")):
            k, _, v = line.rstrip("\n").partition("=")
            d[k] = v
    except FileNotFoundError:
        pass
    return d


out = []
p = out.append
m = machine()
p("Machine: " + ", ".join(f"{k}={m[k]}" for k in ("nproc", "cpu", "kernel") if k in m))
for k in ("reference", "ours", "kresd", "dnsperf", "quick", "date", "loadavg_start", "loadavg_end"):
    if k in m:
        p(f"* {k}: {m[k]}")
try:
    load = [x.split() for x in open(os.path.join(R, "load.txt")) if x.strip()]
    busy = [float(x[1]) for x in load]
    others = [int(x[2]) for x in load]
    p(f"* machine CPU busy over 5 s intervals during the run (includes the benchmark itself): median {med(busy):.0f} %,"
      f" max {max(busy):.0f} %; intervals with other users' compiler/test processes running: "
      f"{sum(1 for x in others if x > 0)}/{len(others)}")
except (FileNotFoundError, ValueError):
    pass
p("")

# --- A ----------------------------------------------------------------------------------------------------------------
kresd = {}
try:
    kresd = json.load(open(os.path.join(R, "kresd.json")))
except FileNotFoundError:
    pass
runs = []
try:
    runs = [json.loads(x) for x in open(os.path.join(R, "startstop.jsonl")) if x.strip()]
except FileNotFoundError:
    pass
errors = [r for r in runs if r.get("error")]
runs_ok = [r for r in runs if not r.get("error") and r["run"] > 0]

if runs or kresd:
    k_ready = med(kresd.get("ready_ms", []))
    k_answer = med(kresd.get("answer_ms", []))
    k_pl = med(kresd.get("policy_loader_ms", []))
    k_stop = med(kresd.get("sigterm_exit_ms", []))

    def vals(impl, key, variant=None):
        return [r[key] for r in runs_ok if r["impl"] == impl and (variant is None or r["variant"] == variant)
                and r.get(key) is not None]

    p("### Start (issue 4)")
    p("")
    p("| from process start to | ours, ms | reference, ms | reference/ours |")
    p("|---|---|---|---|")
    for key, label in (("start_to_answer_ms", "the first DNS answer"), ("start_to_api_ms", "the API answering `GET /`")):
        o, r = vals("ours", key), vals("ref", key)
        p(f"| {label} | {cell(o)} | {cell(r)} | {ratio(med(r), med(o))} |")
    p(f"| kresd alone: spawn → READY=1 | {cell(kresd.get('ready_ms', []))} | | |")
    p(f"| kresd alone: spawn → first DNS answer | {cell(kresd.get('answer_ms', []))} | | |")
    p(f"| policy-loader alone: spawn → exit 0 | {cell(kresd.get('policy_loader_ms', []))} | | |")
    p("")
    o, r = med(vals("ours", "start_to_answer_ms")), med(vals("ref", "start_to_answer_ms"))
    if o is not None and k_ready is not None:
        p(f"* Target: first answer within 150 ms of kresd's own READY (ours − kresd READY = {fmt_ms(o - k_ready)} ms): "
          f"{yes(o - k_ready <= 150)}")
    if o and r:
        p(f"* Target: ≥ 10× faster than the reference ({ratio(r, o)}): {yes(r / o >= 10)}")
    p("")

    p("### Graceful stop (issue 4): signal → every process of the tree gone")
    p("")
    p("| signal | ours, ms | reference, ms | reference/ours | exit codes ours / reference |")
    p("|---|---|---|---|---|")
    variants = sorted({r["variant"] for r in runs_ok}, key=lambda v: (v.endswith("all"), v != "SIGINT", v))
    for v in variants:
        o, rr = vals("ours", "stop_ms", v), vals("ref", "stop_ms", v)
        ec = lambda impl: ",".join(sorted({str(x["exit_code"]) for x in runs_ok if x["impl"] == impl and x["variant"] == v}))
        label = v.replace(" to all", " to every process (systemd KillMode=control-group)")
        if " to all" not in v:
            label += " to the main PID"
        p(f"| {label} | {cell(o)} | {cell(rr)} | {ratio(med(rr), med(o))} | {ec('ours')} / {ec('ref')} |")
    p(f"| kresd alone: SIGTERM → exit | {cell(kresd.get('sigterm_exit_ms', []))} | | | |")
    p("")
    o_term = med(vals("ours", "stop_ms", "SIGTERM"))
    o_int = med(vals("ours", "stop_ms", "SIGINT"))
    r_int = med(vals("ref", "stop_ms", "SIGINT"))
    if o_term is not None and o_int is not None and r_int:
        worst = max(o_term, o_int)
        p(f"* Target: ≤ 1/10 of the reference's stop on its KillSignal SIGINT ({fmt_ms(worst)} ms vs "
          f"{fmt_ms(r_int)} ms, {ratio(r_int, worst)}): {yes(worst <= r_int / 10)}")
    left = [r for r in runs if r.get("leftovers") or r.get("not_stopped")]
    p(f"* Runs with a process left behind or not stopped within the timeout: {len(left)}"
      + (" — " + "; ".join(f"{r['impl']} {r['variant']} run {r['run']}: {r.get('not_stopped')} {r.get('leftovers')}"
                           for r in left) if left else ""))
    if errors:
        p(f"* Failed runs: " + "; ".join(f"{r['impl']} {r['variant']} run {r['run']}: {r['error']}" for r in errors))
    p("")

    p("### Memory (issue 4): VmRSS of every process, 1 s after the API answers (Pss in brackets: shared pages split)")
    p("")
    p("| process | ours, MB | reference, MB | reference/ours |")
    p("|---|---|---|---|")

    def role_vals(impl, roles, key="rss_kb", per_run_sum=False):
        xs = []
        for r in runs_ok:
            if r["impl"] != impl:
                continue
            v = [x[key] for x in r.get("procs", []) if x["role"] in roles and x.get(key) is not None]
            if not v:
                continue
            if per_run_sum:
                xs.append(sum(v) / 1024)
            else:
                xs.extend(x / 1024 for x in v)
        return xs

    def mb(x):
        return f"{x:.1f}"

    rows = [
        ("supervisor (ours) / supervisord (reference)", ("supervisor", "supervisord"), False),
        ("manager", ("manager",), False),
        ("**supervisor + manager**", ("supervisor", "supervisord", "manager"), True),
        ("kresd worker (each; the same binary)", ("kresd",), False),
        ("kres-cache-gc", ("gc",), False),
        ("whole tree", ("supervisor", "supervisord", "manager", "kresd", "gc", "other"), True),
    ]
    sums = {}
    for label, roles, s in rows:
        o, r = role_vals("ours", roles, per_run_sum=s), role_vals("ref", roles, per_run_sum=s)
        op, rp = role_vals("ours", roles, "pss_kb", s), role_vals("ref", roles, "pss_kb", s)
        if label.startswith("**"):
            sums = {"ours": med(o), "ref": med(r)}
        p(f"| {label} | {cell(o, mb)} [{mb(med(op)) if op else '–'}] | {cell(r, mb)} [{mb(med(rp)) if rp else '–'}] "
          f"| {ratio(med(r), med(o))} |")

    def after(kind):
        res = {}
        for impl in ("ours", "ref"):
            xs = []
            for f in sorted(glob.glob(os.path.join(R, f"rss-after-{kind}.{impl}.*.json"))):
                procs = json.load(open(f))
                top = procs[0]["pid"] if procs else None
                xs.append(sum(x["rss_kb"] for x in procs if x["role"] in ("supervisor", "supervisord", "manager")
                              and x.get("rss_kb")) / 1024)
            res[impl] = xs
        return res

    for kind, label in (("b", "supervisor + manager after the API workload (B: changes, reloads, 8-worker scrapes)"),
                        ("c", "supervisor + manager after 3 × 5 s of wrk (C)")):
        a = after(kind)
        if a["ours"] or a["ref"]:
            p(f"| {label} | {cell(a['ours'], mb)} | {cell(a['ref'], mb)} | {ratio(med(a['ref']), med(a['ours']))} |")
    p("")
    if sums.get("ours") and sums.get("ref"):
        p(f"* Target: supervisor + manager ≤ 1/10 of the reference's and under 10 MB ({mb(sums['ours'])} MB vs "
          f"{mb(sums['ref'])} MB, {ratio(sums['ref'], sums['ours'])}): "
          f"{yes(sums['ours'] <= sums['ref'] / 10 and sums['ours'] < 10)}")
    p("")

# --- timeline ---------------------------------------------------------------------------------------------------------
MILESTONES = {
    "ours": [
        ("start", "supervisor: manager process spawned", r"started the manager \(PID"),
        ("start", "manager connected to the supervisor", r"the manager connected"),
        ("start", "policy-loader spawned", r"started policy-loader"),
        ("start", "policy-loader exited", r"policy-loader \(PID \d+\) exited"),
        ("start", "kresd0 spawned", r"started kresd0 "),
        ("start", "first worker READY=1", r"kresd\d+ \(PID \d+\) is ready"),
        ("start", "manager: fully initialized", r"Manager fully initialized"),
        ("stop", "supervisor: stop signal received", r"shutting down: SIG"),
        ("stop", "last log line", r"."),
    ],
    "ref": [
        ("start", "launcher (Python) logs its first line", r"Starting Knot Resolver"),
        ("start", "launcher execs supervisord", r"Execing supervisord"),
        ("start", "supervisord started", r"supervisord started with pid"),
        ("start", "supervisord spawns the manager", r"spawned: 'manager'"),
        ("start", "manager starts the policy-loader", r"Running kresd 'policy-loader'"),
        ("start", "supervisord reports the policy-loader exited", r"exited: policy-loader"),
        ("start", "manager sees the policy-loader done (polls every 1 s)", r"Loading policy rules has been successfully"),
        ("start", "canary kresd0 spawned", r"spawned: 'kresd0'"),
        ("start", "canary passed", r"Canary process test passed"),
        ("start", "config applied to all workers", r"Config applied successfully"),
        ("start", "manager: fully initialized", r"Manager fully initialized"),
        ("stop", "supervisord: SIGINT received", r"received SIG\w+ indicating exit request"),
        ("stop", "supervisord signals the manager", r"killing manager"),
        ("stop", "supervisord: manager stopped", r"stopped: manager"),
        ("stop", "last log line", r"."),
    ],
}


def log_time(line, utc_offset):
    import datetime
    mm = re.search(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z", line)
    if mm:
        return datetime.datetime.fromisoformat(mm.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
    mm = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) ", line)
    if mm:
        t = datetime.datetime.fromisoformat(mm.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
        return t + int(mm.group(2)) / 1000 - utc_offset
    return None


tl = {}  # (impl, phase, label) -> [ms]
for impl in ("ours", "ref"):
    for f in sorted(glob.glob(os.path.join(R, f"timeline.{impl}.*.json"))):
        res = json.load(open(f))
        try:
            lines = open(os.path.join(OUT, "logs", os.path.basename(f)[:-5] + ".log"), errors="replace").read().splitlines()
        except FileNotFoundError:
            continue
        stamped = [(log_time(x, res.get("utc_offset_s", 0)), x) for x in lines]
        stamped = [(t, x) for t, x in stamped if t is not None]
        for phase, label, rx in MILESTONES[impl]:
            base = res.get("t0_wall") if phase == "start" else res.get("sig_wall")
            if base is None:
                continue
            cands = [(t, x) for t, x in stamped if re.search(rx, x) and (phase == "start" or t >= base - 0.001)]
            if label == "last log line":
                cands = cands[-1:]
            if phase == "start":
                cands = [(t, x) for t, x in cands if res.get("sig_wall") is None or t < res["sig_wall"]]
            if cands:
                tl.setdefault((impl, phase, label), []).append((cands[0][0] - base) * 1000)
        for phase, label, key in (("start", "probe: first DNS answer", "start_to_answer_ms"),
                                  ("start", "probe: API answers `GET /`", "start_to_api_ms"),
                                  ("stop", "probe: every process gone", "stop_ms")):
            if res.get(key) is not None:
                tl.setdefault((impl, phase, label), []).append(res[key])
tl_rows = [(impl, phase, label, xs) for (impl, phase, label), xs in tl.items()]
if tl_rows:
    p("### Where the time goes: 3 runs of each at logging level debug (log timestamps; ms after the process start or the stop signal)")
    p("")
    p("| implementation | phase | milestone | ms |")
    p("|---|---|---|---|")
    for impl, phase, label, xs in sorted(tl_rows, key=lambda r: (r[0] != "ours", r[1] != "start", med(r[3]))):
        p(f"| {'ours' if impl == 'ours' else 'reference'} | {phase} | {label} | {cell(xs)} |")
    p("")
    p("(The reference's log has millisecond timestamps; debug logging itself slows both down a little.)")
    p("")

# --- B ----------------------------------------------------------------------------------------------------------------
rt = {}
for f in glob.glob(os.path.join(R, "rt.*.txt")):
    _, impl, item, _ = os.path.basename(f).split(".")
    rt[(impl, item)] = read_lines(f, 1000.0)

if rt:
    p("### Config change round trip (issue 5): curl `time_total` of the PUT, 2 workers")
    p("")
    p("| change | ours, ms | reference, ms | reference/ours | bound for ours: 1.2 × (policy-loader + canary READY + workers × READY) | within |")
    p("|---|---|---|---|---|---|")
    for item, label, n in (("option-cold", "`PUT /v1/config/options/minimize` (false ↔ true), cold: upstream probe in flight", 2),
                           ("option", "`PUT /v1/config/options/minimize` (false ↔ true), warm", 2),
                           ("localdata", "`PUT /v1/config/local-data/addresses/bench.example`", 2),
                           ("workers23", "`PUT /v1/config/workers` 2 → 3", 3),
                           ("workers32", "`PUT /v1/config/workers` 3 → 2", 2)):
        o, r = rt.get(("ours", item), []), rt.get(("ref", item), [])
        bound = 1.2 * (k_pl + k_ready + n * k_ready) if k_pl and k_ready else None
        ok = yes(med(o) <= bound) if o and bound else "–"
        p(f"| {label} | {cell(o)} | {cell(r)} | {ratio(med(r), med(o))} | {fmt_ms(bound)} | {ok} |")
    p("")
    for impl in ("ours", "ref"):
        try:
            idle = [json.loads(x) for x in open(os.path.join(R, f"idle.{impl}.jsonl")) if x.strip()]
            p(f"* cold → warm ({impl}): waited " + ", ".join(f"{d['waited_s']:.1f} s" for d in idle)
              + " until no worker had a query in flight" + (" (some still busy!)" if any(d["still_busy"] for d in idle) else ""))
        except FileNotFoundError:
            pass
    for impl in ("ours", "ref"):
        try:
            checks = open(os.path.join(R, f"ldcheck.{impl}.txt")).read().split()
            p(f"* local-data served by every worker right after the 200 ({impl}): "
              f"{checks.count('ok')}/{len(checks)}")
        except FileNotFoundError:
            pass
    p("")

    def dnsperf(path):
        d = {}
        try:
            t = open(path).read()
        except FileNotFoundError:
            return None
        for key, rx in (("sent", r"Queries sent:\s+(\d+)"), ("completed", r"Queries completed:\s+(\d+)"),
                        ("lost", r"Queries lost:\s+(\d+)"), ("qps", r"Queries per second:\s+([\d.]+)")):
            mm = re.search(rx, t)
            d[key] = float(mm.group(1)) if mm else None
        return d

    p("### Queries lost during a forced reload (issue 5): dnsperf -c 8, 10 s, `POST /reload/force` after 3 s")
    p("")
    p("| load | impl | capacity, qps | rate asked (-Q) | sent | lost (per round) | lost, total | reload time, ms |")
    p("|---|---|---|---|---|---|---|---|")
    for kind, label in (("half-noreload", "half, no reload (control)"), ("half-reload", "half + forced reload"),
                        ("full-reload", "full + forced reload")):
        for impl in ("ours", "ref"):
            files = sorted(glob.glob(os.path.join(R, f"dnsperf.{impl}.{kind}.*.txt")))
            if not files:
                continue
            ds = [dnsperf(f) for f in files]
            caps = [dnsperf(f.replace(kind, "capacity"))["qps"] for f in files]
            rates = []
            for f in files:
                q = f[:-4] + ".qps"
                rates.append(open(q).read().strip() if os.path.exists(q) else "unlimited")
            lost = [int(d["lost"]) for d in ds if d["lost"] is not None]
            rel = rt.get((impl, f"reload-{kind}"), [])
            p(f"| {label} | {'ours' if impl == 'ours' else 'reference'} | {', '.join(f'{c:.0f}' for c in caps)} | "
              f"{', '.join(rates)} | {', '.join(str(int(d['sent'])) for d in ds)} | {', '.join(map(str, lost))} | "
              f"{sum(lost)} | {cell(rel) if rel else '–'} |")
    p("")

    for impl in ("ours", "ref"):
        try:
            lines = open(os.path.join(R, f"reload-pids.{impl}.txt")).read().splitlines()
            n = sum(1 for x in lines if x.startswith("all-replaced"))
            p(f"* forced reloads that replaced every worker ({impl}): {n}/{len(lines)}")
        except FileNotFoundError:
            pass
    p("")

    p("### Metrics scrape with 8 workers (issue 5): curl `time_total`")
    p("")
    p("| route | ours, ms | reference, ms | reference/ours | target ≥ 4× |")
    p("|---|---|---|---|---|")
    for item, label in (("metrics-json", "`/metrics/json`"), ("metrics-prometheus", "`/metrics/prometheus`")):
        o, r = rt.get(("ours", item), []), rt.get(("ref", item), [])
        ok = yes(med(r) / med(o) >= 4) if o and r else "–"
        p(f"| {label} | {cell(o)} | {cell(r)} | {ratio(med(r), med(o))} | {ok} |")
    o, r = rt.get(("ours", "root"), []), rt.get(("ref", "root"), [])
    if o or r:
        p(f"| `GET /` (HTTP floor: no work) | {cell(o)} | {cell(r)} | {ratio(med(r), med(o))} | |")
    cs = {}
    for impl in ("ours", "ref"):
        for f in glob.glob(os.path.join(R, f"ctlscrape.{impl}.*.json")):
            d = json.load(open(f))
            for k in ("fresh_ms", "kept_ms"):
                cs.setdefault(k, []).extend(d[k])
    if cs:
        p(f"| kresd side alone: 8 control sockets concurrently, new connections (prompt, `__json`, command) | "
          f"{cell(cs['fresh_ms'])} | | | |")
        p(f"| kresd side alone: 8 control sockets concurrently, connections kept open | {cell(cs['kept_ms'])} | | | |")
    p("")

# --- C ----------------------------------------------------------------------------------------------------------------
wrk = {}
for f in glob.glob(os.path.join(R, "wrk.*.txt")):
    impl = os.path.basename(f).split(".")[1]
    t = open(f).read()
    mm = re.search(r"Requests/sec:\s+([\d.]+)", t)
    lat = {q: re.search(rf"^\s+{q}%\s+([\d.]+)(us|ms|s)", t, re.M) for q in ("50", "99")}
    if mm:
        wrk.setdefault(impl, []).append((float(mm.group(1)), lat))
if wrk:
    def lat_ms(mm):
        if not mm:
            return None
        v, u = float(mm.group(1)), mm.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v

    p("### GET /v1/config throughput (issue 5): wrk -t2 -c8 -d5s over TCP (127.0.0.1)")
    p("")
    p("| | ours | reference | ours/reference |")
    p("|---|---|---|---|")
    o = [x[0] for x in wrk.get("ours", [])]
    r = [x[0] for x in wrk.get("ref", [])]
    f0 = lambda x: f"{x:.0f}"
    p(f"| requests/s | {cell(o, f0)} | {cell(r, f0)} | {ratio(med(o), med(r))} |")
    for q in ("50", "99"):
        ol = [lat_ms(x[1][q]) for x in wrk.get("ours", [])]
        rl = [lat_ms(x[1][q]) for x in wrk.get("ref", [])]
        p(f"| latency p{q}, ms | {cell(ol)} | {cell(rl)} | {ratio(med(rl), med(ol))} |")
    p("")
    if o and r:
        p(f"* Target: ≥ 10× the reference ({ratio(med(o), med(r))}): {yes(med(o) >= 10 * med(r))}")
    p("")

print("\n".join(out))
