// `nc.context()` of the official JavaScript client (@nats-io/transport-node
// v3), which requests $SYS.REQ.USER.INFO, for tests/sys_requests.rs.
//
//   node user_context.mjs URL USER PASSWORD
//
// Prints the context as one line of JSON, or `error <text>`.
import { connect } from "@nats-io/transport-node";

const [url, user, pass] = process.argv.slice(2);
try {
  const nc = await connect({ servers: url, user, pass, reconnect: false, timeout: 5000 });
  try {
    const ctx = await nc.context();
    console.log(JSON.stringify(ctx));
  } finally {
    await nc.close();
  }
} catch (e) {
  console.log("error", e?.message ?? String(e));
}
