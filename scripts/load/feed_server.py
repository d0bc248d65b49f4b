#!/usr/bin/env python3
"""A fake NATS server that only feeds: the subscriber's ceiling.

It answers the handshake (INFO, PONG for every PING) and, once a client has
subscribed and pinged (what `nc.Subscribe` + `nc.Flush` send), streams
pre-encoded `MSG` frames for that subscription as fast as the socket takes
them, then keeps answering PINGs until the client hangs up. No broker can
deliver to a subscriber faster than this, so the rate a load generator's
subscriber reaches against it is the ceiling under scenarios b-e of
../shared/bench: a ratio against nats-server cannot exceed
ceiling / nats-server's rate.

    scripts/load/feed_server.py --port 4398 --msgs 8000000 --size 16 &
    natsbench pubsub -s nats://127.0.0.1:4398 -np 0 -ns 1 -n 8000000 -ms 16

Serves one client per connection thread; exits after --duration seconds.
Loopback only.
"""

import argparse
import socket
import threading
import time

INFO = (
    b'INFO {"server_id":"NFEED","server_name":"feed","version":"2.9.10",'
    b'"proto":1,"host":"127.0.0.1","port":0,"headers":true,'
    b'"max_payload":1048576}\r\n'
)


def frames(subject: bytes, sid: bytes, size: int, count: int) -> bytes:
    """`count` MSG frames of `size` bytes each, as one buffer."""
    one = b"MSG %s %s %d\r\n%s\r\n" % (subject, sid, size, b"x" * size)
    return one * count


def serve(conn: socket.socket, msgs: int, size: int) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sendall(INFO)
    pending = b""
    sub = None
    fed = False
    while True:
        try:
            data = conn.recv(65536)
        except OSError:
            return
        if not data:
            return
        pending += data
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            words = line.strip().split()
            if not words:
                continue
            op = words[0].upper()
            if op == b"PING":
                conn.sendall(b"PONG\r\n")
                if sub is not None and not fed:
                    fed = True
                    feed(conn, sub, msgs, size)
            elif op == b"SUB" and len(words) >= 3:
                sub = (words[1], words[-1])


def feed(conn: socket.socket, sub, msgs: int, size: int) -> None:
    subject, sid = sub
    per_chunk = max(1, (1 << 20) // (len(subject) + len(sid) + size + 20))
    chunk = frames(subject, sid, size, per_chunk)
    left = msgs
    try:
        while left >= per_chunk:
            conn.sendall(chunk)
            left -= per_chunk
        if left:
            conn.sendall(frames(subject, sid, size, left))
    except OSError:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=4398)
    ap.add_argument("--msgs", type=int, default=2_000_000)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--duration", type=float, default=120.0)
    args = ap.parse_args()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", args.port))
    lst.listen(16)
    lst.settimeout(0.5)
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        try:
            conn, _ = lst.accept()
        except socket.timeout:
            continue
        threading.Thread(
            target=serve, args=(conn, args.msgs, args.size), daemon=True
        ).start()


if __name__ == "__main__":
    main()
