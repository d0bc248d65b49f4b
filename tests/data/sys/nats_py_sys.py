"""The system requests through the official Python client (nats-py).

usage: nats_py_sys.py URL USER PASSWORD SUBJECT [BODY]

Sends one request and prints the reply's JSON on one line, or
`error <text>` when the request fails.
"""
import asyncio
import json
import sys

import nats


async def main():
    url, user, password, subject = sys.argv[1:5]
    body = sys.argv[5].encode() if len(sys.argv) > 5 else b""
    nc = await nats.connect(url, user=user, password=password, allow_reconnect=False)
    try:
        msg = await nc.request(subject, body, timeout=5)
        print(json.dumps(json.loads(msg.data)))
    except Exception as e:  # noqa: BLE001 - the test reads the text
        print("error", type(e).__name__, e)
    finally:
        await nc.close()


asyncio.run(main())
