// Makes the operator-mode test data of tests/auth_jwt.rs with the official
// JavaScript JWT library (@nats-io/jwt, @nats-io/nkeys), so that nats-lite's
// decoder is checked against an encoder that is not ours.
//
//   cd tests/data/jwt && npm install && node make.mjs
//
// Writes keys.json (every JWT, public key and seed by name) and one .creds
// file per user. Nothing expires except the user meant to be expired.

import { writeFileSync } from "node:fs";
import {
  encodeOperator, encodeAccount, encodeUser, encodeActivation, fmtCreds, newScopedSigner,
} from "@nats-io/jwt";
import { createOperator, createAccount, createUser } from "@nats-io/nkeys";

const now = Math.floor(Date.now() / 1000);
const noLimits = {
  subs: -1, data: -1, payload: -1, imports: -1, exports: -1,
  wildcards: true, conn: -1, leaf: -1,
};
const out = { operators: {}, accounts: {}, users: {} };

async function operator(name, withSigningKey) {
  const kp = createOperator();
  const sk = createOperator();
  const opts = withSigningKey ? { signing_keys: [sk.getPublicKey()] } : {};
  out.operators[name] = { public: kp.getPublicKey(), signing_key: sk.getPublicKey() };
  return { kp, sk, opts };
}

async function account(name, op, signer, extra = () => ({}), sk = createAccount(), kp = createAccount()) {
  const claims = { limits: noLimits, signing_keys: [sk.getPublicKey()], ...extra(kp, sk) };
  const jwt = await encodeAccount(name, kp, claims, { signer });
  out.accounts[name] = { public: kp.getPublicKey(), jwt, signing_key: sk.getPublicKey() };
  return { kp, sk };
}

async function user(name, acc, claims = {}, opts = {}) {
  const kp = createUser();
  const jwt = await encodeUser(name, kp, acc.kp, claims, opts);
  const seed = new TextDecoder().decode(kp.getSeed());
  out.users[name] = { public: kp.getPublicKey(), jwt, seed };
  writeFileSync(`${name}.creds`, fmtCreds(jwt, kp));
  return kp;
}

const o = await operator("O", true);
const revokedKp = createUser();
// The system account and account B are signed by the operator itself,
// account A by its signing key.
const sys = await account("SYS", o, o.kp, () => ({}));
const a = await account("A", o, o.sk, () => ({
  revocations: { [revokedKp.getPublicKey()]: now + 3600 },
}));
const b = await account("B", o, o.kp, () => ({}));
out.operators.O.jwt = await encodeOperator("O", o.kp, {
  ...o.opts,
  system_account: out.accounts.SYS.public,
});

await user("alice", a, {
  pub: { allow: ["a.>", "_INBOX.>"], deny: ["a.secret"] },
  sub: { allow: ["a.>", "_INBOX.>"] },
});
await user("bob", a, {}, { signer: a.sk });
await user("bearer", a, { bearer_token: true });
await user("expired", a, {}, { exp: now - 3600 });
await user("notyet", a, {}, { nbf: now + 10 * 365 * 86400 });
{
  // Revoked: issued before the revocation time in account A.
  const jwt = await encodeUser("revoked", revokedKp, a.kp, {});
  const seed = new TextDecoder().decode(revokedKp.getSeed());
  out.users.revoked = { public: revokedKp.getPublicKey(), jwt, seed };
  writeFileSync("revoked.creds", fmtCreds(jwt, revokedKp));
}
await user("limited", a, { subs: 1, payload: 16 });
await user("remote", a, { src: ["10.0.0.0/8"] });
await user("local", a, { src: ["127.0.0.1/32", "::1/128"] });
await user("timed", a, { times: [{ start: "00:00:00", end: "23:59:59" }] });
// Expires in ten years: $SYS.REQ.USER.INFO reports the time left.
await user("later", a, {}, { exp: now + 10 * 365 * 86400 });
await user("carol", b, {});
// A user of the system account, for the system requests in operator mode.
await user("sysop", sys, {});
{
  // Account A again, now also revoking alice: for a reload test.
  const revocations = {
    [revokedKp.getPublicKey()]: now + 3600,
    [out.users.alice.public]: now + 3600,
  };
  out.accounts.A.jwt_revoking_alice = await encodeAccount("A", a.kp, {
    limits: noLimits, signing_keys: [out.accounts.A.signing_key], revocations,
  }, { signer: o.sk });
}

// Account E exports a stream and a service, account F imports both; account
// M has subject mappings (not supported by nats-lite: its users are refused
// with a log line); account S has a scoped signing key whose template
// allows publishing to s.> only.
//
// E also has private exports (token_req): F imports them with activation
// tokens that E issued, some good (signed by E, or by E's signing key with
// issuer_account), some not (expired, signed by a key that is not E's, none
// at all): nats-server leaves those imports out. G and H import with tokens
// issued to another account and for another subject: nats-server refuses
// those accounts whole (tests/sys_operator.rs).
const e = await account("E", o, o.kp, () => ({
  exports: [
    { name: "events", subject: "e.>", type: "stream" },
    { name: "time", subject: "svc.>", type: "service" },
    { name: "private", subject: "private.>", type: "service", token_req: true },
    { name: "pstream", subject: "pstream.>", type: "stream", token_req: true },
  ],
}));
await user("eve", e, {});
const fKp = createAccount();
const E = out.accounts.E.public;
const token = (subject, kind, opts = {}, importer = fKp) =>
  encodeActivation(subject, importer.getPublicKey(), e.kp, kind, { subject }, opts);
const good = (name, local, token) =>
  ({ name, subject: `private.${name}`, account: E, local_subject: local, type: "service", token });
const fImports = [
  { name: "events", subject: "e.>", account: E, to: "from_e", type: "stream" },
  { name: "time", subject: "svc.time", account: E, local_subject: "time", type: "service" },
  good("good", "p.good", await token("private.good", "service")),
  good("sk", "p.sk", await token("private.sk", "service", { signer: e.sk })),
  good("expired", "p.expired", await token("private.expired", "service", { exp: now - 3600 })),
  good("untrusted", "p.untrusted", await token("private.untrusted", "service", { signer: createAccount() })),
  { name: "none", subject: "private.none", account: E, local_subject: "p.none", type: "service" },
  { name: "pstream", subject: "pstream.>", account: E, to: "from_p", type: "stream", token: await token("pstream.>", "stream") },
];
const f = await account("F", o, o.kp, () => ({ imports: fImports }), createAccount(), fKp);
const gKp = createAccount();
const gImports = [good("g", "p.g", await token("private.g", "service", {}, createAccount()))];
const g = await account("G", o, o.kp, () => ({ imports: gImports }), createAccount(), gKp);
await user("gina", g, {});
const hKp = createAccount();
const hImports = [good("h", "p.h", await token("private.other", "service", {}, hKp))];
const h = await account("H", o, o.kp, () => ({ imports: hImports }), createAccount(), hKp);
await user("hank", h, {});
await user("frank", f, {});
const m = await account("M", o, o.kp, () => ({
  mappings: { "in.a": [{ subject: "in.b", weight: 100 }] },
}));
await user("mike", m, {});
const s = await account("S", o, o.kp, (kp, sk) => ({
  signing_keys: [newScopedSigner(sk, "publisher", { pub: { allow: ["s.>"] }, sub: { allow: ["s.>"] } })],
}));
await user("scoped", s, {}, { signer: s.sk, scopedUser: true });

// A second operator and its own account and user, trusted by nobody here.
const o2 = await operator("O2", false);
const a2 = await account("A2", o2, o2.kp, () => ({}));
out.operators.O2.jwt = await encodeOperator("O2", o2.kp, {});
await user("dave", a2, {});

writeFileSync("keys.json", JSON.stringify(out, null, 2) + "\n");
console.log("wrote keys.json and", Object.keys(out.users).length, "creds files");
