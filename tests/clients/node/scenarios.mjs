// The client matrix's scenarios for the JavaScript clients, shared by the
// programs of `nats` (v2) and `@nats-io/transport-node` (v3): each passes
// its library's few differences as `lib` (see tests/clients/README.md for
// the contract: GROUP as argument, servers in the environment, `ok`/`fail`/
// `ready` lines on stdout, `go` on stdin).

import { createInterface } from "node:readline";

const STEP = 5000;
const env = process.env;
const enc = new TextEncoder();
const dec = new TextDecoder();

const say = (line) => process.stdout.write(line + "\n");

const stdinLines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function within(what, promise, ms = STEP) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function report(scenario, fn) {
  try {
    await within(scenario, fn(), 20000);
    say(`ok ${scenario}`);
  } catch (e) {
    say(`fail ${scenario} ${String(e?.message ?? e).replace(/\n/g, " ")}`);
  }
}

async function ready(what) {
  say(`ready ${what}`);
  const { value, done } = await within(`go after ready ${what}`, stdinLines.next(), 30000);
  if (done || value.trim() !== "go") throw new Error(`no go after ready ${what}`);
}

function options(extra = {}) {
  return {
    servers: env.NATS_URL,
    timeout: STEP,
    reconnectTimeWait: 100,
    maxReconnectAttempts: -1,
    ...extra,
  };
}

function tlsOptions(cert) {
  const tls = { caFile: env.NATS_CA };
  if (cert) {
    tls.certFile = env.NATS_CERT;
    tls.keyFile = env.NATS_KEY;
  }
  return { tls };
}

const iterators = new WeakMap();

/** The next message of `sub` within `ms` (one iterator per subscription:
 * nats.js allows no second one). */
async function next(sub, ms = STEP) {
  if (!iterators.has(sub)) iterators.set(sub, sub[Symbol.asyncIterator]());
  const it = iterators.get(sub);
  const r = await within("next message", it.next(), ms);
  if (r.done) throw new Error("subscription ended");
  return r.value;
}

async function connectAndFlush(lib, extra) {
  const nc = await lib.connect(options(extra));
  await within("flush", nc.flush());
  await nc.close();
}

async function pubsubWildcards(nc) {
  const star = nc.subscribe("matrix.*");
  const gt = nc.subscribe("matrix.>");
  await nc.flush();
  for (const s of ["matrix.a", "matrix.a.b", "matrix.end"]) nc.publish(s, enc.encode("x"));
  await nc.flush();
  for (const [sub, want] of [
    [star, ["matrix.a", "matrix.end"]],
    [gt, ["matrix.a", "matrix.a.b", "matrix.end"]],
  ]) {
    const got = [];
    while (got[got.length - 1] !== "matrix.end") got.push((await next(sub)).subject);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      throw new Error(`got ${got}, want ${want}`);
    }
    sub.unsubscribe();
  }
}

async function queueGroup(nc) {
  const counts = [0, 0];
  let done;
  const all = new Promise((resolve) => (done = resolve));
  const subs = [0, 1].map((i) =>
    nc.subscribe("matrix.q", {
      queue: "workers",
      callback: () => {
        counts[i] += 1;
        if (counts[0] + counts[1] === 100) done();
      },
    }),
  );
  await nc.flush();
  for (let i = 0; i < 100; i++) nc.publish("matrix.q", enc.encode(String(i)));
  await nc.flush();
  try {
    await within("100 messages", all);
  } catch {
    throw new Error(`only ${counts[0] + counts[1]} of 100 messages (${counts})`);
  }
  if (counts.includes(0)) throw new Error(`not shared: ${counts}`);
  subs.forEach((s) => s.unsubscribe());
}

async function requestReply(nc) {
  const sub = nc.subscribe("matrix.service", {
    callback: (_err, m) => m.respond(enc.encode("re:" + dec.decode(m.data))),
  });
  await nc.flush();
  const reply = await nc.request("matrix.service", enc.encode("ping"), { timeout: STEP });
  if (dec.decode(reply.data) !== "re:ping") throw new Error(`reply ${dec.decode(reply.data)}`);
  sub.unsubscribe();
}

async function noResponders(lib, nc) {
  try {
    const m = await nc.request("nobody.home", enc.encode("x"), { timeout: STEP });
    throw new Error(`a reply: ${dec.decode(m.data)}`);
  } catch (e) {
    if (!lib.isNoResponders(e)) throw new Error(`not a no-responders error: ${e}`);
  }
}

async function headersRoundTrip(lib, nc) {
  const sub = nc.subscribe("matrix.headers");
  await nc.flush();
  const h = lib.headers();
  h.set("X-Matrix", "one");
  h.set("X-Other", "two words");
  nc.publish("matrix.headers", enc.encode("body"), { headers: h });
  const m = await next(sub);
  const got = [m.headers?.get("X-Matrix"), m.headers?.get("X-Other"), dec.decode(m.data)];
  if (JSON.stringify(got) !== JSON.stringify(["one", "two words", "body"])) {
    throw new Error(`got ${got}`);
  }
}

async function flushDrain(lib) {
  const nc = await lib.connect(options());
  const sub = nc.subscribe("matrix.drain");
  const got = [];
  const reading = (async () => {
    for await (const m of sub) got.push(dec.decode(m.data));
  })();
  await nc.flush();
  for (let i = 0; i < 50; i++) nc.publish("matrix.drain", enc.encode(`m${i}`));
  await nc.flush();
  await within("drain", nc.drain());
  await within("the subscription's end", reading);
  const want = Array.from({ length: 50 }, (_, i) => `m${i}`);
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${got.length} of 50 messages before the drain ended`);
  }
  if (!nc.isClosed()) throw new Error("not closed after the drain");
}

async function maxPayload(lib) {
  const nc = await lib.connect(options());
  const want = Number(env.NATS_MAX_PAYLOAD);
  if (nc.info.max_payload !== want) {
    throw new Error(`client sees max_payload ${nc.info.max_payload}, the server sets ${want}`);
  }
  try {
    nc.publish("matrix.big", new Uint8Array(want * 2));
  } catch (e) {
    if (!/payload/i.test(String(e?.message ?? e))) throw new Error(`refused with ${e}`);
    await nc.flush();
    await nc.close();
    return;
  }
  throw new Error("an oversized publish was accepted");
}

/** Subscribe `subject`; `back()` then publishes on it until the message
 * comes back (the client reconnected and subscribed again), 10 s at most. */
function echo(nc, subject) {
  let arrived;
  const came = new Promise((resolve) => (arrived = resolve));
  nc.subscribe(subject, {
    callback: (_err, m) => {
      if (m && dec.decode(m.data) === "back") arrived();
    },
  });
  return async function back() {
    const deadline = Date.now() + 10000;
    let done = false;
    came.then(() => (done = true));
    while (!done && Date.now() < deadline) {
      try {
        nc.publish(subject, enc.encode("back"));
      } catch {
        // not reconnected yet
      }
      await Promise.race([came, new Promise((r) => setTimeout(r, 250))]);
    }
    if (!done) throw new Error("no message came back within 10 s");
  };
}

async function reconnect(lib) {
  const nc = await lib.connect(options());
  const back = echo(nc, "matrix.reconnect");
  await nc.flush();
  await ready("restart");
  await back();
  await nc.close();
}

async function discovery(lib) {
  const nc = await lib.connect(options());
  const want = env.NATS_DISCOVER;
  const urls = nc.info.connect_urls ?? [];
  if (!urls.includes(want)) throw new Error(`connect_urls ${urls}, not ${want}`);
  const back = echo(nc, "matrix.discovery");
  await nc.flush();
  await ready("kill");
  await back();
  if (nc.getServer() !== want) throw new Error(`connected to ${nc.getServer()}, not ${want}`);
  await nc.close();
}

async function lameDuck(lib) {
  const nc = await lib.connect(options());
  const seen = (async () => {
    for await (const s of nc.status()) if (s.type === "ldm") return;
  })();
  await nc.flush();
  await ready("ldm");
  await within("lame duck status", seen, 10000);
  await nc.close();
}

const BASIC = ["connect_plain", "pubsub_wildcards", "queue_group", "request_reply",
  "no_responders", "headers", "flush_drain"];

async function runGroup(lib, group) {
  switch (group) {
    case "version":
      say(`version ${lib.version}`);
      break;
    case "basic": {
      let nc;
      try {
        nc = await lib.connect(options());
      } catch (e) {
        for (const s of BASIC) say(`fail ${s} connect: ${e?.message ?? e}`);
        break;
      }
      await report("connect_plain", () => nc.flush());
      await report("pubsub_wildcards", () => pubsubWildcards(nc));
      await report("queue_group", () => queueGroup(nc));
      await report("request_reply", () => requestReply(nc));
      await report("no_responders", () => noResponders(lib, nc));
      await report("headers", () => headersRoundTrip(lib, nc));
      await report("flush_drain", () => flushDrain(lib));
      await nc.close();
      break;
    }
    case "user":
      await report("connect_user", () =>
        connectAndFlush(lib, { user: env.NATS_USER, pass: env.NATS_PASSWORD }));
      break;
    case "token":
      await report("connect_token", () => connectAndFlush(lib, { token: env.NATS_TOKEN }));
      break;
    case "tls":
      await report("connect_tls", () => connectAndFlush(lib, tlsOptions(false)));
      break;
    case "tls_cert":
      await report("connect_tls_cert", () => connectAndFlush(lib, tlsOptions(true)));
      break;
    case "max_payload":
      await report("max_payload", () => maxPayload(lib));
      break;
    case "reconnect":
      await report("reconnect", () => reconnect(lib));
      break;
    case "discovery":
      await report("discovery", () => discovery(lib));
      break;
    case "lame_duck":
      await report("lame_duck", () => lameDuck(lib));
      break;
    default:
      say(`unknown group ${group}`);
  }
}

/** Run GROUP with `lib`: { version, connect, headers, isNoResponders };
 * GROUP `serve` runs groups one after the other as stdin asks (`env
 * KEY=VALUE`, then `run GROUP`, answered by `done GROUP`): one Node start
 * for all. */
export async function run(lib, group) {
  if (group === "serve") {
    for (;;) {
      const { value, done } = await stdinLines.next();
      if (done) break;
      const [command, ...rest] = value.trim().split(" ");
      const arg = rest.join(" ");
      if (command === "env") {
        const i = arg.indexOf("=");
        env[arg.slice(0, i)] = arg.slice(i + 1);
      } else if (command === "run") {
        await runGroup(lib, arg);
        say(`done ${arg}`);
      }
    }
  } else {
    await runGroup(lib, group);
  }
  // Whatever is left (a closed client's timers, stdin) must not keep it up.
  process.exit(0);
}
