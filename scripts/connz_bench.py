#!/usr/bin/env python3
"""How long /connz takes with many idle connections, and whether publishers
keep going meanwhile.

Starts `nats-lite server -a 127.0.0.1 -p -1 -m -1` (loopback, free ports,
learnt from the log), opens N idle client connections (CONNECT + PING,
PONG read), starts publisher threads that publish to a subscriber without
pause, then times GET /connz?limit=N a number of times and compares the
publishers' rate while /connz is being served with their rate before.

Standard library only. Usage:

    scripts/connz_bench.py [--bin target/release/nats-lite] [--conns 5000]
                           [--rounds 10] [--publishers 2]

Prints one line per measurement and a summary; exits non-zero if the
server could not be started or a /connz reply was not the JSON expected.
"""

import argparse
import json
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time


def start_server(binary):
    proc = subprocess.Popen(
        [binary, "server", "-a", "127.0.0.1", "-p", "-1", "-m", "-1"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = monitor = None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (client is None or monitor is None):
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"Starting http monitor on ([\d.]+):(\d+)", line)
        if m:
            monitor = (m.group(1), int(m.group(2)))
        m = re.search(r"Listening for client connections on ([\d.]+):(\d+)", line)
        if m:
            client = (m.group(1), int(m.group(2)))
    if client is None or monitor is None:
        proc.kill()
        sys.exit("server did not start")
    # Keep draining the log so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, client, monitor


def read_until(sock, token):
    buf = b""
    while token not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        buf += chunk
    return buf


def idle_connections(addr, n):
    conns = []
    for i in range(n):
        s = socket.create_connection(addr, timeout=10)
        s.sendall(b'CONNECT {"verbose":false,"name":"idle-%d","lang":"py"}\r\nPING\r\n' % i)
        conns.append(s)
    for s in conns:
        read_until(s, b"PONG\r\n")
    return conns


def http_get(addr, path):
    with socket.create_connection(addr, timeout=30) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode())
        data = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


class Publisher(threading.Thread):
    """Publishes 16-byte messages without pause; counts them."""

    def __init__(self, addr, subject):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(addr, timeout=10)
        self.sock.sendall(b'CONNECT {"verbose":false,"name":"publisher"}\r\nPING\r\n')
        read_until(self.sock, b"PONG\r\n")
        self.sock.settimeout(None)
        self.subject = subject.encode()
        self.count = 0
        self.stop = False

    def run(self):
        batch = (b"PUB " + self.subject + b" 16\r\n0123456789abcdef\r\n") * 100
        try:
            while not self.stop:
                self.sock.sendall(batch)
                self.count += 100
        except OSError:
            pass  # the server went away at the end of the run


class Drain(threading.Thread):
    """A subscriber that reads everything (so publishers are not slowed by it)."""

    def __init__(self, addr, subject):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(addr, timeout=10)
        self.sock.sendall(b'CONNECT {"verbose":false,"name":"drain"}\r\nSUB %s 1\r\nPING\r\n' % subject.encode())
        read_until(self.sock, b"PONG\r\n")
        self.sock.settimeout(None)

    def run(self):
        try:
            while self.sock.recv(1 << 20):
                pass
        except OSError:
            pass


def rate(publishers, seconds):
    before = sum(p.count for p in publishers)
    time.sleep(seconds)
    return (sum(p.count for p in publishers) - before) / seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/nats-lite")
    ap.add_argument("--conns", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--publishers", type=int, default=2)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.conns + 100
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    proc, client, monitor = start_server(args.bin)
    try:
        t0 = time.monotonic()
        conns = idle_connections(client, args.conns)
        print("opened %d idle connections in %.1fs" % (len(conns), time.monotonic() - t0))

        path = "/connz?limit=%d" % (args.conns + 100)
        idle = []
        for _ in range(3):
            t = time.monotonic()
            status, body = http_get(monitor, path)
            idle.append((time.monotonic() - t) * 1000)
        print("GET %s with no traffic: %s ms" % (path, ", ".join("%.1f" % ms for ms in idle)))

        drain = Drain(client, "bench")
        drain.start()
        pubs = [Publisher(client, "bench") for _ in range(args.publishers)]
        for p in pubs:
            p.start()
        quiet = rate(pubs, 2.0)
        print("publish rate without /connz: %.0f msgs/s" % quiet)

        times, sizes = [], []
        busy = {"on": True}

        def hammer():
            while busy["on"]:
                t = time.monotonic()
                status, body = http_get(monitor, path)
                times.append((time.monotonic() - t) * 1000)
                sizes.append(len(body))
                if status != 200:
                    raise SystemExit("status %d" % status)
                if len(times) == 1:
                    # Parsed once only: parsing holds Python's GIL and would
                    # stall the publisher threads, measuring us, not the server.
                    reply = json.loads(body)
                    if reply["num_connections"] < args.conns:
                        raise SystemExit("only %d connections listed" % reply["num_connections"])
                if len(times) >= args.rounds:
                    busy["on"] = False

        h = threading.Thread(target=hammer, daemon=True)
        start = sum(p.count for p in pubs)
        t = time.monotonic()
        h.start()
        h.join()
        elapsed = time.monotonic() - t
        during = (sum(p.count for p in pubs) - start) / elapsed
        for i, ms in enumerate(times):
            print("GET %s #%d: %.1f ms, %d bytes" % (path, i + 1, ms, sizes[i]))
        print(
            "summary: %d connections, /connz min %.1f ms, median %.1f ms, max %.1f ms, %.1f MB; "
            "publish rate %.0f msgs/s without, %.0f msgs/s while /connz was served back to back"
            % (args.conns, min(times), statistics.median(times), max(times), sizes[0] / 1e6, quiet, during)
        )
        status, body = http_get(monitor, "/varz")
        v = json.loads(body)
        print("server: %d connections, mem %.1f MB, in_msgs %d" % (v["connections"], v["mem"] / 1e6, v["in_msgs"]))
        for p in pubs:
            p.stop = True
    finally:
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    main()
