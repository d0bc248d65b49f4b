"""The client matrix's program for nats-core (PyPI `nats-core`, the successor
of nats-py; Python >= 3.13).

Usage: nats_core_client.py GROUP (or serve), with the servers in environment variables;
prints `ok SCENARIO` / `fail SCENARIO REASON` per scenario and `ready WHAT`
where the harness must act (it answers `go` on stdin). The scenarios and
their contract: tests/clients/README.md.

nats-core 0.2 has no lame duck callback and no list of discovered servers:
the program looks at the INFO the client parsed (its `_handle_info` hook and
its server pool), which is what the client itself acts on.
"""

import asyncio
import importlib.metadata
import os
import ssl
import sys

from nats.client import NoRespondersError, connect as nats_connect

STEP = 5.0


def say(line):
    print(line, flush=True)


async def report(scenario, coro):
    try:
        await asyncio.wait_for(coro, 20)
        say(f"ok {scenario}")
    except Exception as e:  # noqa: BLE001: any failure is the scenario's
        text = f"{type(e).__name__}: {e}".replace("\n", " ")
        say(f"fail {scenario} {text}")


async def ready(what):
    say(f"ready {what}")
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if line.strip() != "go":
        raise RuntimeError(f"no go after ready {what}: {line!r}")


async def connect(**kw):
    opts = dict(timeout=STEP, reconnect_time_wait=0.1, reconnect_time_wait_max=0.2,
                reconnect_max_attempts=100)
    opts.update(kw)
    return await nats_connect(os.environ["NATS_URL"], **opts)


def tls_context(cert=False):
    ctx = ssl.create_default_context(cafile=os.environ["NATS_CA"])
    if cert:
        ctx.load_cert_chain(os.environ["NATS_CERT"], os.environ["NATS_KEY"])
    return ctx


async def connect_and_flush(**kw):
    nc = await connect(**kw)
    await nc.flush(STEP)
    await nc.close()


async def pubsub_wildcards(nc):
    star = await nc.subscribe("matrix.*")
    gt = await nc.subscribe("matrix.>")
    await nc.flush(STEP)
    for s in ("matrix.a", "matrix.a.b", "matrix.end"):
        await nc.publish(s, b"x")
    await nc.flush(STEP)
    for sub, want in ((star, ["matrix.a", "matrix.end"]),
                      (gt, ["matrix.a", "matrix.a.b", "matrix.end"])):
        got = []
        while not got or got[-1] != "matrix.end":
            got.append((await sub.next(STEP)).subject)
        if got != want:
            raise AssertionError(f"got {got}, want {want}")
        await sub.unsubscribe()


async def queue_group(nc):
    a = await nc.subscribe("matrix.q", queue="workers")
    b = await nc.subscribe("matrix.q", queue="workers")
    await nc.flush(STEP)
    for i in range(100):
        await nc.publish("matrix.q", str(i).encode())
    await nc.flush(STEP)
    counts = [0, 0]

    async def count(i, sub):
        while True:
            await sub.next()
            counts[i] += 1

    tasks = [asyncio.create_task(count(0, a)), asyncio.create_task(count(1, b))]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP
    while sum(counts) < 100 and loop.time() < deadline:
        await asyncio.sleep(0.01)
    for t in tasks:
        t.cancel()
    if sum(counts) != 100:
        raise AssertionError(f"{sum(counts)} of 100 messages ({counts})")
    if 0 in counts:
        raise AssertionError(f"not shared: {counts}")
    await a.unsubscribe()
    await b.unsubscribe()


async def request_reply(nc):
    sub = await nc.subscribe("matrix.service")
    await nc.flush(STEP)

    async def service():
        m = await sub.next()
        await nc.publish(m.reply, b"re:" + m.data)

    task = asyncio.create_task(service())
    reply = await nc.request("matrix.service", b"ping", timeout=STEP)
    task.cancel()
    if reply.data != b"re:ping":
        raise AssertionError(f"reply {reply.data!r}")
    await sub.unsubscribe()


async def no_responders(nc):
    try:
        msg = await nc.request("nobody.home", b"x", timeout=STEP)
    except NoRespondersError:
        return
    raise AssertionError(f"a reply: {msg}")


async def headers(nc):
    sub = await nc.subscribe("matrix.headers")
    await nc.flush(STEP)
    await nc.publish("matrix.headers", b"body",
                     headers={"X-Matrix": "one", "X-Other": "two words"})
    m = await sub.next(STEP)
    h = m.headers
    got = (h.get("X-Matrix"), h.get("X-Other")) if h else None
    if got != ("one", "two words") or m.data != b"body":
        raise AssertionError(f"got {got} {m.data!r}")


async def flush_drain():
    nc = await connect()
    sub = await nc.subscribe("matrix.drain")
    await nc.flush(STEP)
    for i in range(50):
        await nc.publish("matrix.drain", f"m{i}".encode())
    await nc.flush(STEP)
    await nc.drain(timeout=STEP)
    got = []
    while True:
        try:
            got.append((await sub.next(0.5)).data)
        except (RuntimeError, asyncio.TimeoutError):
            break
    want = [f"m{i}".encode() for i in range(50)]
    if got != want:
        raise AssertionError(f"{len(got)} of 50 messages before the drain ended")
    if nc.status.value != "closed":
        raise AssertionError(f"{nc.status} after the drain")


async def max_payload():
    errors = []
    nc = await connect()

    def on_error(e):
        errors.append(str(e))

    nc.add_error_callback(on_error)
    want = int(os.environ["NATS_MAX_PAYLOAD"])
    if nc.server_info.max_payload != want:
        raise AssertionError(f"client sees max_payload {nc.server_info.max_payload}, the server sets {want}")
    try:
        # nats-core does not check max_payload itself: the server refuses.
        await nc.publish("matrix.big", b"x" * (want * 2))
        await nc.flush(STEP)
    except Exception as e:  # noqa: BLE001: refused by the client
        errors.append(str(e))
    # The server answers -ERR 'Maximum Payload Violation' and closes the
    # connection; with the payload still unread the close is often a reset
    # that discards the -ERR, so the client may see only the lost connection.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP
    refused = ("payload", "connection lost")
    while not any(r in e.lower() for e in errors for r in refused) and loop.time() < deadline:
        await asyncio.sleep(0.01)
    if not errors:
        raise AssertionError("an oversized publish was accepted")
    if not any(r in e.lower() for e in errors for r in refused):
        raise AssertionError(f"refused with {errors}")
    await nc.close()


async def round_trip_until(nc, sub, subject):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        try:
            await nc.publish(subject, b"back")
            m = await sub.next(0.25)
            if m.data == b"back":
                return
        except Exception:  # noqa: BLE001: not reconnected yet
            await asyncio.sleep(0.05)
    raise AssertionError("no message came back within 10 s")


async def reconnect():
    nc = await connect()
    sub = await nc.subscribe("matrix.reconnect")
    await nc.flush(STEP)
    await ready("restart")
    await round_trip_until(nc, sub, "matrix.reconnect")
    await nc.close()


async def discovery():
    nc = await connect()
    want = os.environ["NATS_DISCOVER"]
    urls = nc.server_info.connect_urls or []
    if want not in urls:
        raise AssertionError(f"connect_urls {urls}, not {want}")
    if want not in nc._server_pool:
        raise AssertionError(f"server pool {nc._server_pool} lacks {want}")
    sub = await nc.subscribe("matrix.discovery")
    await nc.flush(STEP)
    await ready("kill")
    await round_trip_until(nc, sub, "matrix.discovery")
    port = nc.server_info.port
    if not want.endswith(f":{port}"):
        raise AssertionError(f"connected to port {port}, not {want}")
    await nc.close()


async def lame_duck():
    seen = asyncio.Event()
    nc = await connect()
    handle_info = nc._handle_info

    async def spy(info):
        if info.get("ldm"):
            seen.set()
        await handle_info(info)

    nc._handle_info = spy
    await nc.flush(STEP)
    await ready("ldm")
    try:
        await asyncio.wait_for(seen.wait(), 10)
    except asyncio.TimeoutError:
        raise AssertionError("no INFO with ldm within 10 s")
    await nc.close()


BASIC = ["connect_plain", "pubsub_wildcards", "queue_group", "request_reply",
         "no_responders", "headers", "flush_drain"]


async def run_group(group):
    if group == "version":
        say(f"version {importlib.metadata.version('nats-core')}")
    elif group == "basic":
        try:
            nc = await connect()
        except Exception as e:  # noqa: BLE001
            for s in BASIC:
                say(f"fail {s} connect: {type(e).__name__}: {e}")
            return
        await report("connect_plain", nc.flush(STEP))
        await report("pubsub_wildcards", pubsub_wildcards(nc))
        await report("queue_group", queue_group(nc))
        await report("request_reply", request_reply(nc))
        await report("no_responders", no_responders(nc))
        await report("headers", headers(nc))
        await report("flush_drain", flush_drain())
        await nc.close()
    elif group == "user":
        await report("connect_user", connect_and_flush(
            user=os.environ["NATS_USER"], password=os.environ["NATS_PASSWORD"]))
    elif group == "token":
        await report("connect_token", connect_and_flush(token=os.environ["NATS_TOKEN"]))
    elif group == "tls":
        await report("connect_tls", connect_and_flush(tls=tls_context()))
    elif group == "tls_cert":
        await report("connect_tls_cert", connect_and_flush(tls=tls_context(cert=True)))
    elif group == "max_payload":
        await report("max_payload", max_payload())
    elif group == "reconnect":
        await report("reconnect", reconnect())
    elif group == "discovery":
        await report("discovery", discovery())
    elif group == "lame_duck":
        await report("lame_duck", lame_duck())
    else:
        say(f"unknown group {group}")


async def serve():
    """Groups one after the other, as stdin asks (`env KEY=VALUE`, then
    `run GROUP`, answered by `done GROUP`): one interpreter start for all."""
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command, _, arg = line.strip().partition(" ")
        if command == "env":
            key, _, value = arg.partition("=")
            os.environ[key] = value
        elif command == "run":
            await run_group(arg)
            say(f"done {arg}")


if __name__ == "__main__":
    arg = sys.argv[1]
    asyncio.run(serve() if arg == "serve" else run_group(arg))
