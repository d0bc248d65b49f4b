#!/usr/bin/env python3
"""Idle-client load figures for a NATS server (reliability-cases.md L08).

Starts the server (nats-lite or nats-server) on a free loopback port, opens
N client connections from this one process (the soft RLIMIT_NOFILE is raised
to the hard limit first; the server inherits it), completes CONNECT + PING
on each, and reports:

- the most concurrent clients reached (N, or where connecting failed),
- the time to connect them all (INFO read, CONNECT sent, PONG read),
- the server's RSS and threads before and after, RSS per idle connection,
- the time for all N clients to get a PONG to a PING sent on each,
- that the server still answers a new client afterwards.

Standard library only. Every wait has a deadline; the server is stopped by
its own pid.

    scripts/load/idle_clients.py --clients 10000                  # nats-lite from target/release
    scripts/load/idle_clients.py --bin /usr/sbin/nats-server --clients 10000
    scripts/load/idle_clients.py --compare --clients 10000        # both, side by side
"""

import argparse
import json
import os
import resource
import selectors
import socket
import subprocess
import sys
import threading
import time

DEFAULT_LITE = os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "target")),
    "release",
    "nats-lite",
)
NATS_SERVER = "/usr/sbin/nats-server"


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    raise KeyError(field)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = min(max(soft, want), hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


class Server:
    """A server process on a free loopback port, stopped by its pid."""

    def __init__(self, binary, timeout=15.0):
        args = [binary]
        if os.path.basename(binary).startswith("nats-lite"):
            args.append("server")
        args += ["-a", "127.0.0.1", "-p", "-1"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.addr = None
        self.log = []
        found = threading.Event()

        def read_log():
            for line in self.proc.stderr:
                self.log.append(line.strip())
                if "Listening for client connections on" in line and self.addr is None:
                    host, port = line.rsplit(" ", 1)[1].strip().rsplit(":", 1)
                    self.addr = (host, int(port))
                    found.set()

        threading.Thread(target=read_log, daemon=True).start()
        if not found.wait(timeout):
            self.stop()
            raise RuntimeError(f"{binary} did not start")

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


def read_until(sock, needle, deadline):
    buf = b""
    while needle not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {needle!r}; got {buf[-200:]!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed; got {buf[-200:]!r}")
        buf += chunk
    return buf


def pong_all(socks, payload, timeout):
    """Send `payload` on every socket, then wait until each has read a PONG."""
    sel = selectors.DefaultSelector()
    pending = {}
    for s in socks:
        s.setblocking(True)
        s.settimeout(timeout)
        s.sendall(payload)
        s.setblocking(False)
        pending[s] = b""
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(min(left, 1.0)):
            s = key.fileobj
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(s)
                del pending[s]
                raise ConnectionError("a client was closed by the server")
            pending[s] += chunk
            if b"PONG\r\n" in pending[s]:
                sel.unregister(s)
                del pending[s]
    sel.close()
    return len(socks) - len(pending)


def run(binary, clients, batch=500, timeout=60.0):
    limit = raise_nofile(clients + 200)
    server = Server(binary)
    pid = server.pid
    try:
        # Let the server finish starting (its own threads) before the baseline.
        deadline = time.monotonic() + 5
        probe = socket.create_connection(server.addr, timeout=5)
        read_until(probe, b"\r\n", deadline)
        probe.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        read_until(probe, b"PONG\r\n", deadline)
        probe.close()
        base_rss = proc_status(pid, "VmRSS:")
        base_threads = proc_status(pid, "Threads:")
        socks = []
        error = None
        start = time.monotonic()
        try:
            while len(socks) < clients:
                fresh = []
                for _ in range(min(batch, clients - len(socks))):
                    s = socket.create_connection(server.addr, timeout=timeout)
                    fresh.append(s)
                socks.extend(fresh)
                got = pong_all(fresh, b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n', timeout)
                if got != len(fresh):
                    raise TimeoutError(f"{len(fresh) - got} of a batch got no PONG in {timeout}s")
        except (OSError, TimeoutError, ConnectionError) as e:
            error = f"{type(e).__name__}: {e}"
        connect_s = time.monotonic() - start
        reached = len(socks)
        rss = proc_status(pid, "VmRSS:")
        threads = proc_status(pid, "Threads:")
        start = time.monotonic()
        answered = pong_all(socks, b"PING\r\n", timeout) if error is None else 0
        pong_s = time.monotonic() - start
        # A new client is still served (while the others stay connected).
        late_client = "ok"
        try:
            deadline = time.monotonic() + 10
            late = socket.create_connection(server.addr, timeout=10)
            read_until(late, b"\r\n", deadline)
            late.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
            read_until(late, b"PONG\r\n", deadline)
            late.close()
        except (OSError, TimeoutError, ConnectionError) as e:
            late_client = f"{type(e).__name__}: {e}"
        for s in socks:
            s.close()
        return {
            "server": os.path.basename(binary),
            "clients_wanted": clients,
            "clients_reached": reached,
            "error": error,
            "connect_all_s": round(connect_s, 2),
            "rss_before_kib": base_rss,
            "rss_after_kib": rss,
            "rss_per_conn_kib": round((rss - base_rss) / max(reached, 1), 1),
            "threads_before": base_threads,
            "threads_after": threads,
            "pong_all_s": round(pong_s, 3),
            "pong_answered": answered,
            "late_client": late_client,
            "nofile": limit,
            "server_log_tail": " | ".join(server.log[-3:]),
        }
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=DEFAULT_LITE, help="server binary (nats-lite or nats-server)")
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--compare", action="store_true", help=f"run --bin and {NATS_SERVER}")
    ap.add_argument("--json", action="store_true", help="print JSON lines only")
    a = ap.parse_args()
    bins = [a.bin] + ([NATS_SERVER] if a.compare else [])
    results = [run(b, a.clients) for b in bins]
    if a.json:
        for r in results:
            print(json.dumps(r))
        return 0
    keys = [k for k in results[0] if k not in ("server", "server_log_tail")]
    print(f"{'':20}" + "".join(f"{r['server']:>16}" for r in results))
    for k in keys:
        print(f"{k:20}" + "".join(f"{str(r[k]):>16}" for r in results))
    for r in results:
        if r["server_log_tail"]:
            print(f"{r['server']} log: {r['server_log_tail']}")
    ok = all(r["error"] is None and r["pong_answered"] == r["clients_reached"]
             and r["late_client"] == "ok" for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
