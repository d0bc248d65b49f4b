"""Connect the official Python client (nats-py) to a server with NKey or JWT
credentials, publish and receive one message, and print `ok`, or
`error <what happened>`. Optionally check that a publish is refused.

Used by tests/auth_nkeys.rs and tests/auth_jwt.rs; every wait is bounded.
"""

import argparse
import asyncio

import nats


async def main(args):
    errors = []

    async def on_error(e):
        errors.append(str(e))

    opts = dict(
        servers=[args.url],
        connect_timeout=5,
        allow_reconnect=False,
        max_reconnect_attempts=0,
        error_cb=on_error,
    )
    if args.nkeys_seed:
        opts["nkeys_seed"] = args.nkeys_seed
    if args.creds:
        opts["user_credentials"] = args.creds
    if args.jwt:
        jwt = args.jwt
        opts["user_jwt_cb"] = lambda: jwt.encode()
        # A bearer JWT needs no signature; nats-py sends one when it can.
        opts["signature_cb"] = lambda nonce: b""
    if args.jwt and args.seed:
        import base64

        import nkeys

        kp = nkeys.from_seed(args.seed.encode())
        opts["signature_cb"] = lambda nonce: base64.b64encode(kp.sign(nonce.encode()))
    try:
        nc = await asyncio.wait_for(nats.connect(**opts), 10)
    except Exception as e:  # the server refused us
        print("error", type(e).__name__, e, *errors)
        return
    subject = args.subject
    sub = await nc.subscribe(subject)
    await nc.publish(subject, b"hello")
    try:
        msg = await asyncio.wait_for(sub.next_msg(), 5)
        got = msg.data == b"hello"
    except Exception as e:
        print("error no message", type(e).__name__, e, *errors)
        await nc.close()
        return
    if args.denied:
        await nc.publish(args.denied, b"x")
        try:
            await asyncio.wait_for(nc.flush(), 5)
            await asyncio.sleep(0)
        except Exception:
            pass
        # The -ERR for the refused publish reaches error_cb before a PONG.
        for _ in range(50):
            if errors:
                break
            await asyncio.sleep(0.05)
    await nc.close()
    if not got:
        print("error wrong payload")
    elif args.denied:
        print("ok", *errors)
    else:
        print("ok")


p = argparse.ArgumentParser()
p.add_argument("--url", required=True)
p.add_argument("--nkeys-seed")
p.add_argument("--creds")
p.add_argument("--jwt")
p.add_argument("--seed")
p.add_argument("--subject", default="py.probe")
p.add_argument("--denied")
asyncio.run(main(p.parse_args()))
