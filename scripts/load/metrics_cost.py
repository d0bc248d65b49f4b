#!/usr/bin/env python3
"""What /metrics costs (issue 21's benchmark; not a test).

Starts nats-lite (target/release by default) with monitoring on free
loopback ports, holds N idle clients (CONNECT + PING answered), then:

1. times GET /metrics (and /varz, /connz for comparison): median, p95, max
   over --scrapes requests, and the body size;
2. runs `nats-lite bench` (1 publisher + 1 subscriber, 16 B) --runs times
   without and with a scraper fetching /metrics every second, alternating
   A B B A ..., and prints the median msgs/s of each and their ratio.

Standard library only; every wait has a deadline; the server is stopped by
its own pid.

    scripts/load/metrics_cost.py --clients 5000
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from idle_clients import DEFAULT_LITE, pong_all, raise_nofile  # noqa: E402


def start(binary):
    proc = subprocess.Popen([binary, "server", "-a", "127.0.0.1", "-p", "-1", "-m", "-1"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    client = monitor = None
    deadline = time.monotonic() + 15
    while (client is None or monitor is None) and time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        if "Listening for client connections on" in line:
            client = line.rsplit(" ", 1)[1].strip()
        if "Starting http monitor on" in line:
            monitor = line.rsplit(" ", 1)[1].strip()
    if client is None or monitor is None:
        proc.kill()
        raise RuntimeError("server did not start")
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, client, monitor


def idle_clients(addr, n, batch=500):
    host, port = addr.rsplit(":", 1)
    socks = []
    while len(socks) < n:
        fresh = [socket.create_connection((host, int(port)), timeout=10)
                 for _ in range(min(batch, n - len(socks)))]
        got = pong_all(fresh, b'CONNECT {"verbose":false}\r\nPING\r\n', 60)
        if got != len(fresh):
            raise RuntimeError(f"only {got} of {len(fresh)} clients answered")
        socks += fresh
    return socks


def fetch(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=10) as r:
        body = r.read()
    return time.perf_counter() - start, len(body)


def timings(url, count):
    times, size = [], 0
    for _ in range(count):
        t, size = fetch(url)
        times.append(t * 1000)
    times.sort()
    return (statistics.median(times), times[int(len(times) * 0.95) - 1], times[-1], size)


def bench(binary, addr, msgs):
    out = subprocess.run([binary, "bench", "-s", f"nats://{addr}", "--msgs", str(msgs),
                          "--size", "16", "--subs", "1", "--no-progress", "bench.metrics"],
                         capture_output=True, text=True, timeout=300)
    m = re.search(r"Pub stats: ([\d,]+) msgs/sec", out.stdout)
    if not m:
        raise RuntimeError(f"no pub figure in:\n{out.stdout}{out.stderr}")
    return int(m.group(1).replace(",", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=DEFAULT_LITE)
    ap.add_argument("--clients", type=int, default=5000)
    ap.add_argument("--scrapes", type=int, default=30)
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--msgs", type=int, default=2_000_000)
    a = ap.parse_args()
    raise_nofile(a.clients + 1000)
    proc, client, monitor = start(a.bin)
    try:
        socks = idle_clients(client, a.clients)
        print(f"{len(socks)} idle clients on {client}; monitor {monitor}")
        for path in ["/metrics", "/varz", "/connz"]:
            med, p95, mx, size = timings(f"http://{monitor}{path}", a.scrapes)
            print(f"GET {path:9} median {med:7.1f} ms  p95 {p95:7.1f} ms  max {mx:7.1f} ms  "
                  f"{size / 1024:8.1f} KiB")
        stop = threading.Event()
        scraped = []

        def scraper():
            while not stop.wait(1.0):
                scraped.append(fetch(f"http://{monitor}/metrics")[0])

        plain, scraping = [], []
        order = ["A", "B", "B", "A"] * ((a.runs + 3) // 4)
        for which in order[:a.runs]:
            if which == "A":
                plain.append(bench(a.bin, client, a.msgs))
            else:
                stop.clear()
                t = threading.Thread(target=scraper, daemon=True)
                t.start()
                scraping.append(bench(a.bin, client, a.msgs))
                stop.set()
                t.join()
        mp, ms = statistics.median(plain), statistics.median(scraping)
        print(f"bench pub msgs/s, 1 pub + 1 sub, 16 B, {a.msgs} msgs, {a.clients} idle clients:")
        print(f"  no scraping:        median {mp:>12,.0f}  runs {plain}")
        print(f"  /metrics every 1 s: median {ms:>12,.0f}  runs {scraping}  "
              f"({len(scraped)} scrapes, median {statistics.median(scraped) * 1000:.1f} ms)"
              if scraped else f"  /metrics every 1 s: median {ms:>12,.0f}  runs {scraping}")
        print(f"  ratio (scraping / none): {ms / mp:.3f}")
    finally:
        proc.kill()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
