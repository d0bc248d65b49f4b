// The client matrix's program for `nats` v2 (nats.js on Node.js); the
// scenarios are in scenarios.mjs, the contract in tests/clients/README.md.

import { createRequire } from "node:module";
import { connect, headers, ErrorCode } from "nats";
import { run } from "./scenarios.mjs";

const { version } = createRequire(import.meta.url)("nats/package.json");

await run(
  {
    version,
    connect,
    headers,
    isNoResponders: (e) => e?.code === ErrorCode.NoResponders,
  },
  process.argv[2],
);
