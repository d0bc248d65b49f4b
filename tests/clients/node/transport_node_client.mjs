// The client matrix's program for `@nats-io/transport-node` v3 (nats.js v3
// on Node.js); the scenarios are in scenarios.mjs, the contract in
// tests/clients/README.md.

import { createRequire } from "node:module";
import { connect, headers, errors } from "@nats-io/transport-node";
import { run } from "./scenarios.mjs";

const { version } = createRequire(import.meta.url)("@nats-io/transport-node/package.json");

await run(
  {
    version,
    connect,
    headers,
    isNoResponders: (e) =>
      e instanceof errors.NoRespondersError ||
      e?.cause instanceof errors.NoRespondersError ||
      (typeof e?.isNoResponders === "function" && e.isNoResponders()),
  },
  process.argv[2],
);
