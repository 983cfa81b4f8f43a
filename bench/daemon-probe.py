#!/usr/bin/env python3
"""Process-level probes for bench/daemon.sh (runs inside the sid root, as root).

Subcommands (each prints one JSON object on stdout; diagnostics go to stderr):

  free-ports N
      N distinct ports free for both UDP and TCP on 127.0.0.1.

  startstop --port P --api SOCKET|HOST:PORT --rundir DIR --signal INT|TERM [--signal-all] [--settle S]
            [--log FILE] [--timeout S] -- CMD...
      Spawn CMD (its own session), then:
        * start_to_answer: a UDP query for bench.example A is sent to 127.0.0.1:P every millisecond (one
          unconnected socket, a new ID each time) until the first NOERROR answer with records arrives;
        * start_to_api: GET / on the management API answers 200 (polled every 5 ms after the first answer);
        * rss: after --settle seconds, VmRSS (and Pss) of every process of the tree (descendants of CMD's PID);
        * stop: the signal to CMD's PID (--signal-all: to every process of the tree at once, like systemd's
          KillMode=control-group), then every process of the tree is polled each millisecond until all are
          gone (exited or zombie); stop_ms is the time until the last one is gone;
        * leftovers: processes still running afterwards whose cwd is inside --rundir or whose command line
          mentions it (killed with SIGKILL and reported).

  kresd --dir DIR --port P [--runs N]
      kresd on its own, with the worker Lua and policy-loader Lua of DIR (kresd0.conf, policy-loader.conf,
      rendered by `kresctl convert`): the policy-loader's run time (spawn to exit), then per run a worker with
      NOTIFY_SOCKET: spawn to READY=1, spawn to the first DNS answer, SIGTERM to exit.

  rss PID
      The process tree of PID with VmRSS/Pss per process.

  ctl-scrape --rundir DIR [--runs N] [--lua CMD]
      The kresd side of a metrics scrape, without any manager: CMD (default collect_lazy_statistics()) sent to
      every control socket in DIR/control concurrently (one thread, non-blocking sockets), like the manager does:
      "fresh" = connect, read the prompt, `__json` + CMD, read the framed reply (what both managers do per
      scrape); "kept" = the same over connections opened once (command and reply only). Times per scrape.

  ctl-idle --rundir DIR [--timeout S]
      Wait until every worker with a control socket in DIR/control has no query in flight
      (worker.stats().concurrent == 0); prints the seconds waited. With the offline configuration a new
      worker's time-skew probe to the dead upstream stays in flight for about 4 s until kresd's cache knows
      the upstream does not answer.

  cleanup DIR
      SIGKILL every process whose cwd is inside DIR or whose command line mentions DIR; prints what it killed.
"""

import argparse
import http.client
import json
import os
import random
import select
import signal
import socket
import struct
import subprocess
import sys
import time

QNAME = "bench.example"


def now_ns():
    return time.monotonic_ns()


def dns_query(qid, name=QNAME, qtype=1):
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return header + q + struct.pack("!HH", qtype, 1)


def good_answer(data, sent_ids):
    if len(data) < 12:
        return False
    qid, flags, _qd, an = struct.unpack("!HHHH", data[:8])
    return qid in sent_ids and flags & 0x8000 and flags & 0x000F == 0 and an > 0


# --- /proc helpers ---------------------------------------------------------------------------------------------------


def read_stat(pid):
    """(state, ppid) or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def all_pids():
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(top):
    children = {}
    for pid in all_pids():
        st = read_stat(pid)
        if st:
            children.setdefault(st[1], []).append(pid)
    out, todo = [], [top]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def role(pid, top, argv):
    joined = " ".join(argv)
    if pid == top:
        return "supervisord" if "supervisord" in joined else "supervisor"
    if "knot_resolver.manager" in joined or (argv and os.path.basename(argv[0]) == "knot-resolver"):
        return "manager"
    if argv and os.path.basename(argv[0]) == "kresd":
        return "policy-loader" if "policy-loader.conf" in joined else "kresd"
    if argv and os.path.basename(argv[0]) == "kres-cache-gc":
        return "gc"
    return "other"


def tree_rss(top):
    procs = []
    for pid in descendants(top):
        argv = cmdline(pid)
        procs.append({"pid": pid, "role": role(pid, top, argv), "cmd": " ".join(argv)[:200],
                      "rss_kb": status_kb(pid, "VmRSS"), "pss_kb": pss_kb(pid)})
    return procs


def gone(pid, top_popen=None):
    if top_popen is not None and pid == top_popen.pid:
        return top_popen.poll() is not None
    st = read_stat(pid)
    return st is None or st[0] in ("Z", "X")


def leftovers(rundir):
    rundir = os.path.realpath(rundir)
    found = []
    me = {os.getpid(), os.getppid()}
    for pid in all_pids():
        if pid in me:
            continue
        st = read_stat(pid)
        if not st or st[0] in ("Z", "X"):
            continue
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            cwd = ""
        argv = cmdline(pid)
        if cwd == rundir or cwd.startswith(rundir + "/") or any(rundir in a for a in argv):
            found.append({"pid": pid, "cmd": " ".join(argv)[:200]})
    return found


# --- API probe ---------------------------------------------------------------------------------------------------------


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=1.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def api_ok(api):
    try:
        if api.startswith("/"):
            c = UnixHTTPConnection(api)
        else:
            host, port = api.rsplit(":", 1)
            c = http.client.HTTPConnection(host, int(port), timeout=1.0)
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        c.close()
        return r.status == 200
    except OSError:
        return False
    except http.client.HTTPException:
        return False


# --- subcommands -------------------------------------------------------------------------------------------------------


def cmd_free_ports(n):
    ports, socks = [], []
    while len(ports) < n:
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
        except OSError:
            t.close()
            u.close()
            continue
        socks += [t, u]
        ports.append(port)
    for s in socks:
        s.close()
    print(json.dumps(ports))


def wait_first_answer(port, deadline_ns, alive=lambda: True, interval_s=0.001):
    """Send a query every interval until an answer arrives; returns the monotonic time of the answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    sent = set()
    next_check = 0
    try:
        while now_ns() < deadline_ns:
            qid = random.randrange(65536)
            sent.add(qid)
            try:
                s.sendto(dns_query(qid), ("127.0.0.1", port))
            except OSError:
                pass
            end = time.monotonic() + interval_s
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    break
                r, _, _ = select.select([s], [], [], left)
                if not r:
                    break
                try:
                    data = s.recv(4096)
                except OSError:
                    continue
                if good_answer(data, sent):
                    return now_ns()
            next_check += 1
            if next_check % 20 == 0 and not alive():
                return None
        return None
    finally:
        s.close()


def cmd_startstop(a):
    log = open(a.log, "ab") if a.log else subprocess.DEVNULL
    result = {"cmd": a.cmd, "signal": a.signal, "signal_all": a.signal_all}
    result["utc_offset_s"] = time.localtime().tm_gmtoff
    result["t0_wall"] = time.time()
    t0 = now_ns()
    p = subprocess.Popen(a.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                         start_new_session=True, cwd=a.cwd)
    deadline = t0 + int(a.timeout * 1e9)
    try:
        t_ans = wait_first_answer(a.port, deadline, alive=lambda: p.poll() is None)
        if t_ans is None:
            raise RuntimeError(f"no DNS answer within {a.timeout} s (exit code {p.poll()})")
        result["start_to_answer_ms"] = (t_ans - t0) / 1e6
        while not api_ok(a.api):
            if now_ns() > deadline or p.poll() is not None:
                raise RuntimeError(f"the API at {a.api} did not answer within {a.timeout} s")
            time.sleep(0.005)
        result["start_to_api_ms"] = (now_ns() - t0) / 1e6
        time.sleep(a.settle)
        procs = tree_rss(p.pid)
        result["procs"] = procs
        pids = [x["pid"] for x in procs]
        sig = getattr(signal, "SIG" + a.signal)
        result["sig_wall"] = time.time()
        t1 = now_ns()
        if a.signal_all:
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
        else:
            os.kill(p.pid, sig)
        stop_deadline = t1 + int(a.timeout * 1e9)
        remaining = set(pids)
        last_gone = {}
        while remaining and now_ns() < stop_deadline:
            for pid in list(remaining):
                if gone(pid, p):
                    remaining.discard(pid)
                    last_gone[pid] = (now_ns() - t1) / 1e6
            if remaining:
                time.sleep(0.001)
        result["stop_ms"] = (now_ns() - t1) / 1e6 if not remaining else None
        result["top_stop_ms"] = last_gone.get(p.pid)
        result["not_stopped"] = sorted(remaining)
        result["exit_code"] = p.poll()
    except Exception as e:  # noqa: BLE001 - reported in the result, the caller decides
        result["error"] = str(e)
    finally:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        time.sleep(0.05)
        left = leftovers(a.rundir)
        for x in left:
            try:
                os.kill(x["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        result["leftovers"] = left
    print(json.dumps(result))


def spawn_kresd(argv, cwd, env_extra, notify_path):
    env = dict(os.environ)
    env.update(env_extra)
    if notify_path:
        env["NOTIFY_SOCKET"] = notify_path
    return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def cmd_kresd(a):
    d = os.path.realpath(a.dir)
    notify_path = os.path.join(d, "notify.sock")
    out = {"policy_loader_ms": [], "ready_ms": [], "answer_ms": [], "sigterm_exit_ms": []}
    for _ in range(a.runs):
        t0 = now_ns()
        p = spawn_kresd(["/usr/sbin/kresd", "-c", "policy-loader.conf", "-c", "-", "-n"], d, {}, None)
        rc = p.wait(timeout=30)
        if rc != 0:
            raise SystemExit(f"policy-loader exited with {rc}")
        out["policy_loader_ms"].append((now_ns() - t0) / 1e6)
    for _ in range(a.runs):
        try:
            os.unlink(notify_path)
        except FileNotFoundError:
            pass
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify_path)
        t0 = now_ns()
        p = spawn_kresd(["/usr/sbin/kresd", "-c", "kresd0.conf", "-n"], d, {"SYSTEMD_INSTANCE": "0"}, notify_path)
        try:
            deadline = t0 + 30 * 10**9
            t_ans = wait_first_answer(a.port, deadline, alive=lambda: p.poll() is None)
            ns.settimeout(5)
            msg = ns.recv(4096)  # READY=1 was sent before the first answer (or the answer was queued until it)
            if b"READY=1" not in msg:
                raise SystemExit(f"unexpected notify message {msg!r}")
            # READY's own time: the datagram is queued, so time it separately below when possible.
            out["answer_ms"].append((t_ans - t0) / 1e6 if t_ans else None)
            t1 = now_ns()
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
            out["sigterm_exit_ms"].append((now_ns() - t1) / 1e6)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            ns.close()
    # Spawn to READY=1 on its own (nobody queries; the notify socket is read as soon as the datagram arrives).
    for _ in range(a.runs):
        try:
            os.unlink(notify_path)
        except FileNotFoundError:
            pass
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify_path)
        ns.settimeout(30)
        t0 = now_ns()
        p = spawn_kresd(["/usr/sbin/kresd", "-c", "kresd0.conf", "-n"], d, {"SYSTEMD_INSTANCE": "0"}, notify_path)
        try:
            msg = ns.recv(4096)
            out["ready_ms"].append((now_ns() - t0) / 1e6)
            if b"READY=1" not in msg:
                raise SystemExit(f"unexpected notify message {msg!r}")
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            ns.close()
    try:
        os.unlink(notify_path)
    except FileNotFoundError:
        pass
    print(json.dumps(out))


def scrape_once(paths, conns=None):
    """One concurrent collection; returns the replies. conns: already prompted __json connections, or None."""
    import selectors
    sel = selectors.DefaultSelector()
    state = {}
    fresh = conns is None
    if fresh:
        conns = []
        for path in paths:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            c.setblocking(False)
            conns.append(c)
    for c in conns:
        state[c] = {"buf": b"", "phase": "prompt" if fresh else "reply"}
        if fresh:
            sel.register(c, selectors.EVENT_READ)
        else:
            c.send(LUA_LINE)
            sel.register(c, selectors.EVENT_READ)
    replies = []
    pending = len(conns)
    while pending:
        events = sel.select(timeout=5)
        if not events:
            raise RuntimeError("no reply within 5 s")
        for key, _ in events:
            c = key.fileobj
            st = state[c]
            data = c.recv(65536)
            if not data:
                raise RuntimeError("control socket closed")
            st["buf"] += data
            if st["phase"] == "prompt" and len(st["buf"]) >= 2:
                st["buf"] = st["buf"][2:]
                st["phase"] = "reply"
                c.send(b"__json\n" + LUA_LINE)
            if st["phase"] == "reply" and len(st["buf"]) >= 4:
                n = struct.unpack("!I", st["buf"][:4])[0]
                if len(st["buf"]) >= 4 + n:
                    replies.append(st["buf"][4:4 + n])
                    st["buf"] = st["buf"][4 + n:]
                    st["phase"] = "done"
                    sel.unregister(c)
                    pending -= 1
    sel.close()
    if fresh:
        for c in conns:
            c.close()
    return replies


LUA_LINE = b"collect_lazy_statistics()\n"


def cmd_ctl_scrape(a):
    global LUA_LINE
    LUA_LINE = a.lua.encode() + b"\n"
    d = os.path.join(a.rundir, "control")
    paths = sorted(os.path.join(d, x) for x in os.listdir(d))
    out = {"workers": len(paths), "fresh_ms": [], "kept_ms": []}
    for _ in range(5):
        scrape_once(paths)
    for _ in range(a.runs):
        t0 = now_ns()
        r = scrape_once(paths)
        out["fresh_ms"].append((now_ns() - t0) / 1e6)
        if len(r) != len(paths):
            raise SystemExit("missing replies")
    conns = []
    for path in paths:
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(path)
        assert c.recv(2) == b"> "
        c.sendall(b"__json\n")
        c.setblocking(False)
        conns.append(c)
    for _ in range(5):
        scrape_once(paths, conns)
    for _ in range(a.runs):
        t0 = now_ns()
        scrape_once(paths, conns)
        out["kept_ms"].append((now_ns() - t0) / 1e6)
    for c in conns:
        c.close()
    out["reply_bytes"] = len(r[0]) if r else None
    print(json.dumps(out))


def ctl_command(path, lua, timeout=2.0):
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.settimeout(timeout)
    try:
        c.connect(path)
        c.recv(2)
        c.sendall(b"__json\n" + lua.encode() + b"\n")
        hdr = b""
        while len(hdr) < 4:
            chunk = c.recv(4 - len(hdr))
            if not chunk:
                raise OSError("closed")
            hdr += chunk
        n = struct.unpack("!I", hdr)[0]
        data = b""
        while len(data) < n:
            chunk = c.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data
    finally:
        c.close()


def cmd_ctl_idle(a):
    d = os.path.join(a.rundir, "control")
    t0 = time.monotonic()
    busy = {}
    while time.monotonic() - t0 < a.timeout:
        busy = {}
        for x in sorted(os.listdir(d)):
            try:
                v = ctl_command(os.path.join(d, x), "worker.stats().concurrent")
            except OSError:
                continue
            if v != b"0":
                busy[x] = v.decode(errors="replace")
        if not busy:
            break
        time.sleep(0.05)
    print(json.dumps({"waited_s": round(time.monotonic() - t0, 3), "still_busy": busy}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="sub", required=True)
    fp = sub.add_parser("free-ports")
    fp.add_argument("n", type=int)
    ss = sub.add_parser("startstop")
    ss.add_argument("--port", type=int, required=True)
    ss.add_argument("--api", required=True)
    ss.add_argument("--rundir", required=True)
    ss.add_argument("--signal", default="TERM", choices=["TERM", "INT"])
    ss.add_argument("--signal-all", action="store_true")
    ss.add_argument("--settle", type=float, default=1.0)
    ss.add_argument("--timeout", type=float, default=60.0)
    ss.add_argument("--log")
    ss.add_argument("--cwd", help="working directory of CMD")
    ss.add_argument("cmd", nargs="+")
    kr = sub.add_parser("kresd")
    kr.add_argument("--dir", required=True)
    kr.add_argument("--port", type=int, required=True)
    kr.add_argument("--runs", type=int, default=10)
    rs = sub.add_parser("rss")
    rs.add_argument("pid", type=int)
    cs = sub.add_parser("ctl-scrape")
    cs.add_argument("--rundir", required=True)
    cs.add_argument("--runs", type=int, default=200)
    cs.add_argument("--lua", default="collect_lazy_statistics()")
    ci = sub.add_parser("ctl-idle")
    ci.add_argument("--rundir", required=True)
    ci.add_argument("--timeout", type=float, default=15.0)
    cl = sub.add_parser("cleanup")
    cl.add_argument("dir")
    a = ap.parse_args()
    if a.sub == "free-ports":
        cmd_free_ports(a.n)
    elif a.sub == "startstop":
        cmd_startstop(a)
    elif a.sub == "kresd":
        cmd_kresd(a)
    elif a.sub == "ctl-scrape":
        cmd_ctl_scrape(a)
    elif a.sub == "ctl-idle":
        cmd_ctl_idle(a)
    elif a.sub == "cleanup":
        left = leftovers(a.dir)
        for x in left:
            try:
                os.kill(x["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
        print(json.dumps(left))
    else:
        print(json.dumps(tree_rss(a.pid)))


if __name__ == "__main__":
    main()
