#!/usr/bin/env python3
"""Queries lost over UDP, TCP and DoT while a manager with 2 workers is force-reloaded under load.

Runs inside the sid root, in a private network namespace (bench/stream-drain.sh sets that up). Starts
`knot-resolver` (the binary given) on free loopback ports with a plain DNS listener and a DoT listener (kresd's
ephemeral certificate), measures the capacity of the chosen load generator, then runs it at half or full
capacity for a fixed time while `POST /reload/force` is sent every RELOAD_EVERY seconds, and prints one JSON line.

Load generators (`--client`):
  conn   one TCP or TLS connection per query (connect, query, answer, close), like `kdig +tcp` / `kdig +tls`;
         N processes, each sequential. A query is lost when it gets no answer (reset, EOF, timeout).
  udp    one query at a time per process over an unconnected UDP socket, 2 s timeout.
  dnsperf  dnsperf -m tcp|dot|udp: persistent connections, many queries in flight on each; it does not retry,
         so a connection the server closes while queries are in flight loses them.
Every loop is bounded in time; every process started here is killed at the end.
"""
import argparse, json, multiprocessing as mp, os, random, re, shutil, signal, socket, ssl, struct, subprocess, sys
import tempfile, time

NAME = "bench.example"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def query(qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in NAME.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def good(reply, qid):
    return len(reply) >= 12 and struct.unpack(">H", reply[:2])[0] == qid and reply[2] & 0x80 and reply[3] & 0x0F == 0 \
        and struct.unpack(">H", reply[6:8])[0] > 0


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("EOF")
        buf += chunk
    return buf


def conn_worker(mode, port, rate, until, out):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sent = lost = 0
    errors = {}
    qid = random.randrange(65536)
    next_t = time.monotonic()
    while time.monotonic() < until:
        if rate:
            next_t += 1.0 / rate
            d = next_t - time.monotonic()
            if d > 0:
                time.sleep(d)
        qid = (qid + 1) % 65536
        sent += 1
        s = None
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=3)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if mode == "dot":
                s = ctx.wrap_socket(s)
            q = query(qid)
            s.sendall(struct.pack(">H", len(q)) + q)
            n = struct.unpack(">H", recv_exact(s, 2))[0]
            if not good(recv_exact(s, n), qid):
                raise ConnectionError("bad answer")
        except Exception as e:  # noqa: BLE001 - every failure is a lost query
            lost += 1
            k = type(e).__name__
            errors[k] = errors.get(k, 0) + 1
        finally:
            if s is not None:
                s.close()
    out.put((sent, lost, errors))


def udp_worker(mode, port, rate, until, out):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    sent = lost = 0
    qid = random.randrange(65536)
    next_t = time.monotonic()
    while time.monotonic() < until:
        if rate:
            next_t += 1.0 / rate
            d = next_t - time.monotonic()
            if d > 0:
                time.sleep(d)
        qid = (qid + 1) % 65536
        sent += 1
        s.sendto(query(qid), ("127.0.0.1", port))
        try:
            while True:
                r, _ = s.recvfrom(1500)
                if struct.unpack(">H", r[:2])[0] == qid:
                    break
        except socket.timeout:
            lost += 1
    out.put((sent, lost, {}))


def run_load(kind, mode, port, procs, rate_total, seconds):
    out = mp.Queue()
    until = time.monotonic() + seconds
    target = udp_worker if kind == "udp" else conn_worker
    rate = rate_total / procs if rate_total else 0
    ps = [mp.Process(target=target, args=(mode, port, rate, until, out)) for _ in range(procs)]
    for p in ps:
        p.start()
    return ps, out


def collect(ps, out):
    sent = lost = 0
    errors = {}
    for _ in ps:
        s, l, e = out.get(timeout=60)
        sent += s
        lost += l
        for k, v in e.items():
            errors[k] = errors.get(k, 0) + v
    for p in ps:
        p.join(10)
    return sent, lost, errors


def api(sock, method, path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sock)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        data += c
    s.close()
    return int(data.split(b" ", 2)[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--mode", choices=["udp", "tcp", "dot"], required=True)
    ap.add_argument("--client", choices=["conn", "udp", "dnsperf"], required=True)
    ap.add_argument("--load", choices=["half", "full"], required=True)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--reload-every", type=float, default=1.0)
    ap.add_argument("--procs", type=int, default=4)
    a = ap.parse_args()

    d = tempfile.mkdtemp(prefix="kres-stream-drain-")
    os.makedirs(f"{d}/run")
    os.makedirs(f"{d}/cache")
    port, dot = free_port(), free_port()
    open(f"{d}/config.yaml", "w").write(f"""rundir: {d}/run
workers: 2
cache: {{storage: {d}/cache, size-max: 10M}}
management: {{unix-socket: {d}/run/api.sock, state-dir: {d}/state}}
network:
  listen:
    - interface: 127.0.0.1@{port}
    - interface: 127.0.0.1@{dot}
      kind: dot
options: {{priming: false, time-jump-detection: false}}
dnssec: {{enable: false}}
logging: {{level: {os.environ.get("LOGLEVEL", "notice")}}}
local-data:
  addresses:
    {NAME}: 192.0.2.1
forward:
  - subtree: .
    servers: [127.0.0.1@9]
""")
    log = open(f"{d}/daemon.log", "w")
    daemon = subprocess.Popen([a.bin, "-c", f"{d}/config.yaml"], stdout=log, stderr=log, start_new_session=True)
    try:
        sockpath = f"{d}/run/api.sock"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if api(sockpath, "GET", "/") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            sys.exit("the daemon did not come up:\n" + open(f"{d}/daemon.log").read())
        time.sleep(0.5)
        qport = dot if a.mode == "dot" else port
        kind = "udp" if a.mode == "udp" and a.client != "dnsperf" else a.client
        if a.client == "dnsperf":
            qf = f"{d}/q.txt"
            open(qf, "w").write(f"{NAME} A\n")
            base = ["dnsperf", "-s", "127.0.0.1", "-p", str(qport), "-d", qf, "-c", "8", "-m", a.mode, "-S", "1"]
            cap_out = subprocess.run(base + ["-l", "3"], capture_output=True, text=True, timeout=60).stdout
            cap = float(re.search(r"Queries per second:\s+([\d.]+)", cap_out).group(1))
            args = base + ["-l", str(a.seconds)] + (["-Q", str(int(cap / 2))] if a.load == "half" else [])
            p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            reloads = do_reloads(sockpath, a.seconds, a.reload_every)
            res = p.communicate(timeout=a.seconds + 60)[0]
            if os.environ.get("SHOWLOG"):
                print(res, file=sys.stderr)
            sent = int(re.search(r"Queries sent:\s+(\d+)", res).group(1))
            lost = int(re.search(r"Queries lost:\s+(\d+)", res).group(1))
            errors = {}
        else:
            ps, out = run_load(kind, a.mode, qport, a.procs, 0, 3)
            s, _, _ = collect(ps, out)
            cap = s / 3
            rate = cap / 2 if a.load == "half" else 0
            ps, out = run_load(kind, a.mode, qport, a.procs, rate, a.seconds)
            reloads = do_reloads(sockpath, a.seconds, a.reload_every)
            sent, lost, errors = collect(ps, out)
        if os.environ.get("SHOWLOG"):
            print(open(f"{d}/daemon.log").read(), file=sys.stderr)
        print(json.dumps({"mode": a.mode, "client": a.client, "load": a.load, "capacity_qps": round(cap),
                          "sent": sent, "lost": lost, "errors": errors, "reloads": reloads,
                          "bin": a.bin}), flush=True)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        if not os.environ.get("KEEP"):
            shutil.rmtree(d, ignore_errors=True)


def do_reloads(sockpath, seconds, every):
    """POST /reload/force every `every` s during the load, leaving 1.5 s quiet at both ends (none if every <= 0)."""
    if every <= 0:
        return 0
    time.sleep(1.5)
    n = 0
    end = time.monotonic() + seconds - 3
    while time.monotonic() < end:
        t = time.monotonic()
        if api(sockpath, "POST", "/reload/force") == 200:
            n += 1
        time.sleep(max(0, every - (time.monotonic() - t)))
    return n


if __name__ == "__main__":
    main()
