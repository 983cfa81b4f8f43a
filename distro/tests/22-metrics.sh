#!/usr/bin/env bash
# Metrics: JSON (kresctl metrics, GET /metrics/json) and Prometheus (kresctl metrics --prometheus) agree: per worker,
# one resolver_* sample per JSON leaf, except the 10 latency leaves which make an 11-sample histogram, plus
# resolver_metrics_loaded.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

step "some traffic"
# With the default monitoring/metrics: lazy, the first collection loads kresd's stats module; count from then on.
must kresctl metrics >/dev/null
for _ in $(seq 10); do dns_status localhost A >/dev/null; done

step "GET /metrics redirects to JSON"
[[ "$(api_status /metrics)" == 301 ]] || fail "/metrics is not a redirect"
api /metrics/json | python3 -m json.tool >/dev/null || fail "/metrics/json is not JSON"

step "kresctl metrics (JSON) and kresctl metrics --prometheus"
must kresctl metrics >/tmp/metrics.json
must kresctl metrics --prometheus >/tmp/metrics.prom
must kresctl metrics /tmp/metrics-file.json >/dev/null
python3 -m json.tool /tmp/metrics-file.json >/dev/null || fail "kresctl metrics FILE"

python3 - /tmp/metrics.json /tmp/metrics.prom <<'PY'
import json, re, sys
data = json.load(open(sys.argv[1]))
prom = open(sys.argv[2]).read().splitlines()
workers = [k for k in data if k.startswith("kresd:")]
assert len(workers) == 2, f"expected 2 workers in the JSON: {list(data)}"

def leaves(v):
    if isinstance(v, dict):
        return sum(leaves(x) for x in v.values())
    return 1

for w in workers:
    assert data[w] is not None, f"{w} has no metrics"
    samples = [l for l in prom if l.startswith("resolver_") and f'instance_id="{w}"' in l]
    expected = leaves(data[w]) + 2
    assert len(samples) == expected, f"{w}: {len(samples)} Prometheus samples, {expected} expected"
    total = next(l for l in samples if l.startswith("resolver_request_total{"))
    assert float(total.split()[-1]) == data[w]["request"]["total"], f"{w}: request totals differ: {total}"
families = [l.split()[2] for l in prom if l.startswith("# TYPE ")]
assert len(families) == len(set(families)), "a metric family has more than one TYPE line"
queries = sum(data[w]["request"]["total"] for w in workers)
assert queries >= 10, f"only {queries} requests counted"
print(f"{len(workers)} workers, {len(prom)} Prometheus lines, {queries} requests")
PY
