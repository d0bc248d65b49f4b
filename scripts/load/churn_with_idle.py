#!/usr/bin/env python3
"""Connection churn on top of many idle clients (issue 22's load check).

Starts the server (nats-lite or nats-server) on a free loopback port, opens
--idle client connections from this process and completes CONNECT + PING on
each (as idle_clients.py does; the soft RLIMIT_NOFILE is raised to the hard
limit first, and the server inherits it), then, while they stay connected,
runs `nats-lite bench churn` (connect, INFO, CONNECT + PING, PONG, close)
for --cycles connections, --par at a time. It then checks and reports:

- the idle clients reached, and the churn's connections per second,
- that the churn completed without an error,
- that every idle client still gets a PONG, and a new client is served,
- the server's threads during the churn (peak) and a few seconds after.

It fails (exit 1) on any error or when the churn rate is under --min-rate
(5,000 connections per second by default). Standard library only; every
wait has a deadline; the server is stopped by its own pid.

    scripts/load/churn_with_idle.py                              # nats-lite from target/release
    scripts/load/churn_with_idle.py --idle 10000 --cycles 50000 --par 16
    scripts/load/churn_with_idle.py --bin /usr/sbin/nats-server   # the reference, same load
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import idle_clients  # noqa: E402  (the shared helpers: Server, pong_all, ...)

CONNECT = b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n'


def open_idle(server, n, batch=500, timeout=60.0):
    import socket

    socks = []
    while len(socks) < n:
        fresh = [socket.create_connection(server.addr, timeout=timeout)
                 for _ in range(min(batch, n - len(socks)))]
        socks.extend(fresh)
        got = idle_clients.pong_all(fresh, CONNECT, timeout)
        if got != len(fresh):
            raise TimeoutError(f"{len(fresh) - got} of a batch got no PONG in {timeout}s")
    return socks


def run(binary, lite, idle, cycles, par, timeout):
    limit = idle_clients.raise_nofile(idle + 4 * par + 200)
    server = idle_clients.Server(binary)
    pid = server.pid
    result = {"server": os.path.basename(binary), "nofile": limit, "error": None}
    try:
        start = time.monotonic()
        socks = open_idle(server, idle)
        result["idle_clients"] = len(socks)
        result["idle_connect_s"] = round(time.monotonic() - start, 2)
        result["threads_idle"] = idle_clients.proc_status(pid, "Threads:")
        peak = [result["threads_idle"]]
        done = threading.Event()

        def watch():
            while not done.wait(0.05):
                try:
                    peak[0] = max(peak[0], idle_clients.proc_status(pid, "Threads:"))
                except (OSError, KeyError):
                    return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        host, port = server.addr
        out = subprocess.run(
            [lite, "bench", "churn", "--server", f"nats://{host}:{port}",
             "--clients", str(par), "--msgs", str(cycles), "--no-progress",
             "--timeout", f"{int(timeout)}s"],
            capture_output=True, text=True, timeout=timeout + 30)
        done.set()
        watcher.join()
        m = re.search(r"Churn stats: ([\d,]+) conns/sec", out.stdout)
        result["churn_rate"] = int(m.group(1).replace(",", "")) if m else None
        result["churn_exit"] = out.returncode
        if out.returncode != 0 or m is None:
            result["error"] = "churn: " + (out.stdout + out.stderr).strip()[-300:]
        result["threads_peak"] = peak[0]
        start = time.monotonic()
        answered = idle_clients.pong_all(socks, b"PING\r\n", timeout)
        result["idle_pong_answered"] = answered
        result["idle_pong_s"] = round(time.monotonic() - start, 3)
        if answered != len(socks) and result["error"] is None:
            result["error"] = f"{len(socks) - answered} idle clients got no PONG"
        deadline = time.monotonic() + 10
        late = __import__("socket").create_connection(server.addr, timeout=10)
        idle_clients.read_until(late, b"\r\n", deadline)
        late.sendall(CONNECT)
        idle_clients.read_until(late, b"PONG\r\n", deadline)
        late.close()
        time.sleep(3)  # a measurement window: parked threads beyond the warm ones exit in 2 s
        result["threads_3s_after"] = idle_clients.proc_status(pid, "Threads:")
        for s in socks:
            s.close()
    except (OSError, TimeoutError, ConnectionError, subprocess.TimeoutExpired) as e:
        result["error"] = result["error"] or f"{type(e).__name__}: {e}"
    finally:
        result["server_log_tail"] = " | ".join(server.log[-3:])
        server.stop()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=idle_clients.DEFAULT_LITE, help="server binary (nats-lite or nats-server)")
    ap.add_argument("--lite", default=idle_clients.DEFAULT_LITE, help="nats-lite binary that runs `bench churn`")
    ap.add_argument("--idle", type=int, default=10000, help="idle clients held during the churn")
    ap.add_argument("--cycles", type=int, default=50000, help="connect/close cycles")
    ap.add_argument("--par", type=int, default=16, help="churning connections at a time")
    ap.add_argument("--min-rate", type=int, default=5000, help="fail under this many connections/s")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    r = run(a.bin, a.lite, a.idle, a.cycles, a.par, a.timeout)
    for k, v in r.items():
        print(f"{k:20} {v}")
    ok = r["error"] is None and (r.get("churn_rate") or 0) >= a.min_rate
    if r["error"] is None and not ok:
        print(f"churn rate under {a.min_rate} connections/s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
