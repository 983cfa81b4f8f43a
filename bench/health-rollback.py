#!/usr/bin/env python3
"""Health-gated applies (docs/benchmarks-daemon.md, part F), run inside the sid root by bench/health-rollback.sh.

Per round, on a fresh resolver (2 workers, offline, health hold 10 s):
  1. the canary's cost: an option change (a rolling restart); the canary's life (spawned .. stopped) and the whole
     apply, from the supervisor's log and the API call;
  2. the time from a health failure to restored service: a change whose workers stop answering 2 s after they start
     (policy.NO_ANSWER) and serve new local data; a client sends queries for the test name round robin from 8 UDP
     sockets (50 ms timeout each) throughout; measured from the first query that fails to the first answer with the
     previous data after which none fails. The manager's own figure (from the failed probe round to all workers
     answering) and its count of lost probe queries are read from its log.
"""
import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

NAME = "test.example."
OLD, NEW = "192.0.2.53", "192.0.2.99"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(qid, name):
    msg = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.rstrip(".").split("."):
        msg += bytes([len(label)]) + label.encode()
    return msg + b"\x00\x00\x01\x00\x01"


def answer_address(msg):
    """The first A record's address of an answer, or None."""
    if len(msg) < 12 or msg[3] & 0x0F != 0 or int.from_bytes(msg[6:8], "big") == 0:
        return None
    i = 12
    while msg[i] != 0:
        i += 1 + msg[i]
    i += 5
    for _ in range(int.from_bytes(msg[6:8], "big")):
        i += 2 if msg[i] & 0xC0 == 0xC0 else 0
        rtype, rdlen = int.from_bytes(msg[i:i + 2], "big"), int.from_bytes(msg[i + 8:i + 10], "big")
        if rtype == 1 and rdlen == 4:
            return ".".join(str(b) for b in msg[i + 10:i + 14])
        i += 10 + rdlen
    return None


def http(sock_path, method, path, body=None, ctype="application/json"):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(120)
    s.connect(sock_path)
    data = (body or "").encode()
    req = f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: {ctype}\r\n"
    req += f"Content-Length: {len(data)}\r\n\r\n"
    s.sendall(req.encode() + data)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    return int(head.split()[1]), rest.decode(errors="replace")


class Client(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.log = port, threading.Event(), []

    def run(self):
        socks = []
        for _ in range(8):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("127.0.0.1", self.port))
            s.settimeout(0.05)
            socks.append(s)
        n = 0
        while not self.stop.is_set():
            s = socks[n % len(socks)]
            qid = n % 65536
            sent = time.monotonic()
            s.send(query(qid, NAME))
            got = None
            try:
                while True:
                    msg = s.recv(1500)
                    if msg[:2] == qid.to_bytes(2, "big"):
                        got = answer_address(msg) or "bad"
                        break
            except socket.timeout:
                got = "lost"
            self.log.append((sent, got))
            n += 1
            time.sleep(0.002)


def spans(log, pattern):
    """Timestamps (seconds) of the supervisor's log lines matching `pattern`."""
    out = []
    for line in log.splitlines():
        m = re.search(r"(\d\d):(\d\d):(\d\d\.\d+)Z", line)
        if m and re.search(pattern, line):
            h, mi, s = m.groups()
            out.append(int(h) * 3600 + int(mi) * 60 + float(s))
    return out


def one_round(bin_path):
    d = tempfile.mkdtemp(prefix="kres-health-bench-")
    for sub in ("run", "cache"):
        os.makedirs(f"{d}/{sub}")
    port = free_port()
    with open(f"{d}/config.yaml", "w") as f:
        f.write(
            f"rundir: {d}/run\nworkers: 2\ncache:\n  storage: {d}/cache\n  size-max: 10M\n"
            f"management:\n  unix-socket: {d}/run/kres-api.sock\n  state-dir: {d}/state\n  health-hold: 10s\n"
            f"network:\n  listen:\n    - interface: 127.0.0.1@{port}\n"
            "options:\n  priming: false\n  time-jump-detection: false\ndnssec:\n  enable: false\n"
            f"local-data:\n  records: |\n    {NAME} 300 A {OLD}\n"
            "forward:\n  - subtree: .\n    servers: [127.0.0.1@9]\n    options: {dnssec: false}\n"
        )
    logf = open(f"{d}/daemon.log", "w")
    proc = subprocess.Popen([bin_path, "-c", f"{d}/config.yaml"], stdout=logf, stderr=logf)
    try:
        sock = f"{d}/run/kres-api.sock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if http(sock, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        # 1. The canary's cost in a rolling restart (the hold is 10 s: time the apply without it, from the log).
        status, body = http(sock, "PUT", "/v1/config/management/health-hold", '"0s"')
        assert status == 200, body
        t0 = time.monotonic()
        status, body = http(sock, "PUT", "/v1/config/options/minimize", "false")
        apply_s = time.monotonic() - t0
        assert status == 200, body
        status, body = http(sock, "PUT", "/v1/config/management/health-hold", '"10s"')
        assert status == 200, body
        log = open(f"{d}/daemon.log").read()
        spawned, stopped = spans(log, r"spawned: 'kresd4'"), spans(log, r"stopped: kresd4 ")
        canary_s = stopped[0] - spawned[0]
        # 2. From a health failure to restored service.
        client = Client(port)
        client.start()
        time.sleep(0.3)
        script = "event.after(2 * sec, function() policy.add(policy.all(policy.NO_ANSWER)) end)"
        patch = json.dumps([
            {"op": "add", "path": "/lua", "value": {"script": script}},
            {"op": "replace", "path": "/local-data/records", "value": f"{NAME} 300 A {NEW}\n"},
        ])
        status, body = http(sock, "PATCH", "/v1/config", patch, "application/json-patch+json")
        time.sleep(1.0)
        client.stop.set()
        client.join()
        assert status == 422, (status, body)
        qlog = client.log
        fails = [i for i, (_, got) in enumerate(qlog) if got != OLD and got != NEW]
        first_fail, last_fail = fails[0], fails[-1]
        restored = next(i for i in range(last_fail + 1, len(qlog)) if qlog[i][1] == OLD)
        client_s = qlog[restored][0] - qlog[first_fail][0]
        log = open(f"{d}/daemon.log").read()
        m = re.search(r"rolled back to the previous configuration ([\d.]+) s after the failed probe; (\d+) probe", log)
        return {
            "canary_s": canary_s,
            "apply_s": apply_s,
            "client_s": client_s,
            "client_failed": len(fails),
            "client_sent": len(qlog),
            "manager_s": float(m.group(1)),
            "lost_probes": int(m.group(2)),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not os.environ.get("KEEP"):
            shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    results = [one_round(a.bin) for _ in range(a.rounds)]
    for r in results:
        print(json.dumps(r))

    def med(key):
        v = [r[key] for r in results]
        return f"{statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})"

    print(f"canary life (spawned..stopped), s: {med('canary_s')}")
    print(f"option change (rolling restart, no hold), s: {med('apply_s')}")
    print(f"client: first failed query -> answers with the previous data again, s: {med('client_s')}")
    print(f"manager: failed probe round -> all workers answer, s: {med('manager_s')}")
    print(f"lost probe queries: {med('lost_probes')}; client queries failed: {med('client_failed')}")


if __name__ == "__main__":
    main()
