#!/usr/bin/env python3
"""A fake NATS server that costs next to nothing: the load generator's ceiling.

It answers the handshake (INFO, PONG for every PING), throws away whatever
a publisher sends (scanned for PING and SUB, never parsed), and once a
client has subscribed and pinged (what `nc.Subscribe` + `nc.Flush` send)
streams pre-encoded `MSG` frames for that subscription as fast as the
socket takes them. The rate a load generator reaches against it is what
the generator itself can do on this machine: no broker can be measured
faster, so a ratio against nats-server cannot exceed
ceiling / nats-server's rate (scripts/bench-ceilings.sh).

    scripts/load/feed_server.py --port 4398 --msgs 8000000 --size 16 &
    natsbench pubsub -s nats://127.0.0.1:4398 -np 1 -ns 1 -n 8000000 -ms 16

With --after-pub a subscriber is fed only once some connection has sent a
PUB (natsbench flow times from the publishers' start, so a feed that ran
while the publishers connect would not overlap them), and with
--msg-subject FMT --msg-subjects N the frames carry FMT with %d replaced by
0..N-1 in turn instead of the subscription's subject (scenario j:
`bench.p%d` over 100 subjects into a subscription on `bench.*`).
--hold-publishers (with --after-pub, one subscriber) goes further: a
connection that has published is not read again until the feed is done,
its bytes waiting in a large socket receive buffer, and is then drained;
so while the subscriber is fed the fake does nothing for the publishers
(a fake that read 100 publishers as they wrote cost as much CPU as
nats-lite itself in scenario j).

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


# Set by the first PUB any connection sends (--after-pub waits for it).
PUBLISHED = threading.Event()
# Set when a feed is done (--hold-publishers waits for it).
FED = threading.Event()
# Receive buffer of every connection with --hold-publishers: room for what
# a publisher sends while it is not read (the kernel doubles it).
HOLD_RCVBUF = 32 << 20


def frames(subjects, sid: bytes, size: int, count: int) -> bytes:
    """`count` MSG frames of `size` bytes each, as one buffer, their subjects
    taken from `subjects` in turn."""
    body = b"x" * size
    ones = [b"MSG %s %s %d\r\n%s\r\n" % (s, sid, size, body) for s in subjects]
    whole, part = divmod(count, len(ones))
    return b"".join(ones) * whole + b"".join(ones[:part])


def serve(conn: socket.socket, msgs: int, size: int, opts) -> None:
    """Answer PINGs; feed a subscriber once it has subscribed and pinged;
    throw everything else away (a publisher's PUBs are not parsed, only
    scanned for PING and SUB, so a fast publisher costs next to nothing)."""
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.sendall(INFO)
    lock = threading.Lock()  # one writer at a time: PONGs and the feed
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    kept = 0  # bytes of an incomplete line kept at the front of buf
    sub = None
    fed = False
    held = False
    while True:
        if kept == len(buf):
            return  # a line of 1 MiB: not a NATS client
        try:
            n = conn.recv_into(view[kept:])
        except OSError:
            return
        if not n:
            return
        end = kept + n
        cut = buf.rfind(b"\n", 0, end) + 1
        published = not held and buf.find(b"PUB ", 0, cut) >= 0
        if published:
            PUBLISHED.set()
        if sub is None:
            at = buf.find(b"SUB ", 0, cut)
            if at >= 0:
                words = bytes(buf[at : buf.find(b"\n", at, cut)]).split()
                if len(words) >= 3:
                    sub = (words[1], words[-1])
        pings = buf.count(b"PING\r\n", 0, cut)
        kept = end - cut
        buf[:kept] = buf[cut:end]
        if pings:
            with lock:
                conn.sendall(b"PONG\r\n" * pings)
        if pings > 0 and sub is not None and not fed:
            fed = True
            threading.Thread(
                target=feed, args=(conn, lock, sub, msgs, size, opts), daemon=True
            ).start()
        if published and opts.hold_publishers and sub is None:
            held = True
            FED.wait(opts.duration)


def feed(conn: socket.socket, lock, sub, msgs: int, size: int, opts) -> None:
    subject, sid = sub
    if opts.msg_subject:
        fmt = opts.msg_subject.encode()
        subjects = [fmt.replace(b"%d", b"%d" % i) for i in range(opts.msg_subjects)]
    else:
        subjects = [subject]
    longest = max(len(s) for s in subjects)
    per_chunk = max(1, (1 << 20) // (longest + len(sid) + size + 20))
    chunk = frames(subjects, sid, size, per_chunk)
    left = msgs
    if opts.after_pub:
        PUBLISHED.wait()
    try:
        while left >= per_chunk:
            with lock:
                conn.sendall(chunk)
            left -= per_chunk
        if left:
            with lock:
                conn.sendall(frames(subjects, sid, size, left))
    except OSError:
        pass
    FED.set()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=4398)
    ap.add_argument("--msgs", type=int, default=2_000_000)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument(
        "--after-pub",
        action="store_true",
        help="feed subscribers only once some connection has published",
    )
    ap.add_argument(
        "--msg-subject",
        default="",
        help="subject of the MSG frames, %%d replaced by 0..--msg-subjects-1",
    )
    ap.add_argument("--msg-subjects", type=int, default=1)
    ap.add_argument(
        "--hold-publishers",
        action="store_true",
        help="don't read a publisher while the subscriber is fed",
    )
    args = ap.parse_args()
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.hold_publishers:
        # accepted sockets inherit it; above net.core.rmem_max needs root
        try:
            lst.setsockopt(socket.SOL_SOCKET, 33, HOLD_RCVBUF)  # SO_RCVBUFFORCE
        except OSError:
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, HOLD_RCVBUF)
    lst.bind(("127.0.0.1", args.port))
    lst.listen(128)
    lst.settimeout(0.5)
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        try:
            conn, _ = lst.accept()
        except socket.timeout:
            continue
        threading.Thread(
            target=serve, args=(conn, args.msgs, args.size, args), daemon=True
        ).start()


if __name__ == "__main__":
    main()
