"""nats-py over ws:// against a server's websocket listener: subscribe,
publish, request/reply and headers; prints one line per check for the
Rust test (tests/peer_websocket.rs) to compare. Usage: ws_nats_py.py URL"""
import asyncio
import sys

import nats


async def main(url):
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    got = asyncio.get_running_loop().create_future()

    async def on_msg(msg):
        if not got.done():
            got.set_result(msg)

    await nc.subscribe("py.in", cb=on_msg)

    async def responder(msg):
        await msg.respond(b"answer:" + msg.data)

    await nc.subscribe("py.svc", cb=responder)
    await nc.flush()
    print("ready", flush=True)
    msg = await asyncio.wait_for(got, 10)
    print("received", msg.subject, msg.data.decode(), flush=True)
    await nc.publish("py.out", b"from python", headers={"X-Peer": "nats-py"})
    reply = await nc.request("py.svc", b"q", timeout=5)
    print("reply", reply.data.decode(), flush=True)
    await nc.flush()
    await nc.drain()


asyncio.run(main(sys.argv[1]))
