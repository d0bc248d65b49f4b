/*
 * The client matrix's program for libnats (the NATS C client, Debian's
 * libnats-dev). Usage: nats_c_client GROUP (or serve), with the servers in environment
 * variables; prints `ok SCENARIO` / `fail SCENARIO REASON` per scenario and
 * `ready WHAT` where the harness must act (it answers `go` on stdin). The
 * scenarios and their contract: tests/clients/README.md.
 */

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nats/nats.h>

#define STEP 5000

static char reason[512];

/* Set the failure reason; returns 0 so that `return fail(...)` reads well. */
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return 0;
}

/* The status text of `s` with what was being done. */
static int fail_status(const char *what, natsStatus s) {
    return fail("%s: %s (%s)", what, natsStatus_GetText(s), nats_GetLastError(NULL));
}

static void report(const char *scenario, int ok) {
    if (ok)
        printf("ok %s\n", scenario);
    else
        printf("fail %s %s\n", scenario, reason);
    fflush(stdout);
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v ? v : "";
}

static int ready(const char *what) {
    char line[64];
    printf("ready %s\n", what);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0)
        return fail("no go after ready %s", what);
    return 1;
}

static natsOptions *options(void) {
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, env("NATS_URL"));
    natsOptions_SetTimeout(o, STEP);
    natsOptions_SetReconnectWait(o, 100);
    natsOptions_SetMaxReconnect(o, 100);
    return o;
}

/* Connect with `o` (destroyed here); NULL with the reason set on failure. */
static natsConnection *connect_with(natsOptions *o) {
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        fail_status("connect", s);
        return NULL;
    }
    return nc;
}

static int connect_and_flush(natsOptions *o) {
    natsConnection *nc = connect_with(o);
    if (!nc)
        return 0;
    natsStatus s = natsConnection_FlushTimeout(nc, STEP);
    natsConnection_Destroy(nc);
    return s == NATS_OK ? 1 : fail_status("flush", s);
}

static int next_subject(natsSubscription *sub, char *out, size_t len) {
    natsMsg *m = NULL;
    natsStatus s = natsSubscription_NextMsg(&m, sub, STEP);
    if (s != NATS_OK)
        return fail_status("next message", s);
    snprintf(out, len, "%s", natsMsg_GetSubject(m));
    natsMsg_Destroy(m);
    return 1;
}

static int pubsub_wildcards(natsConnection *nc) {
    natsSubscription *star = NULL, *gt = NULL;
    natsStatus s = natsConnection_SubscribeSync(&star, nc, "matrix.*");
    if (s == NATS_OK)
        s = natsConnection_SubscribeSync(&gt, nc, "matrix.>");
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    if (s == NATS_OK)
        s = natsConnection_PublishString(nc, "matrix.a", "x");
    if (s == NATS_OK)
        s = natsConnection_PublishString(nc, "matrix.a.b", "x");
    if (s == NATS_OK)
        s = natsConnection_PublishString(nc, "matrix.end", "x");
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    if (s != NATS_OK)
        return fail_status("subscribe/publish", s);
    const char *want_star[] = {"matrix.a", "matrix.end"};
    const char *want_gt[] = {"matrix.a", "matrix.a.b", "matrix.end"};
    char got[64];
    for (int i = 0; i < 2; i++) {
        if (!next_subject(star, got, sizeof got))
            return 0;
        if (strcmp(got, want_star[i]) != 0)
            return fail("matrix.* got %s, want %s", got, want_star[i]);
    }
    for (int i = 0; i < 3; i++) {
        if (!next_subject(gt, got, sizeof got))
            return 0;
        if (strcmp(got, want_gt[i]) != 0)
            return fail("matrix.> got %s, want %s", got, want_gt[i]);
    }
    natsSubscription_Unsubscribe(star);
    natsSubscription_Unsubscribe(gt);
    natsSubscription_Destroy(star);
    natsSubscription_Destroy(gt);
    return 1;
}

static atomic_int queue_counts[2];

static void on_queue_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
    (void)nc;
    (void)sub;
    atomic_fetch_add(&queue_counts[(int)(intptr_t)closure], 1);
    natsMsg_Destroy(m);
}

/* Wait (polling with a deadline) until `done()` holds. */
static int wait_until(int (*done)(void), int ms) {
    int64_t deadline = nats_Now() + ms;
    while (!done()) {
        if (nats_Now() > deadline)
            return 0;
        nats_Sleep(5);
    }
    return 1;
}

static int queue_total_is_100(void) {
    return atomic_load(&queue_counts[0]) + atomic_load(&queue_counts[1]) >= 100;
}

static int queue_group(natsConnection *nc) {
    natsSubscription *a = NULL, *b = NULL;
    atomic_store(&queue_counts[0], 0);
    atomic_store(&queue_counts[1], 0);
    natsStatus s = natsConnection_QueueSubscribe(&a, nc, "matrix.q", "workers", on_queue_msg, (void *)0);
    if (s == NATS_OK)
        s = natsConnection_QueueSubscribe(&b, nc, "matrix.q", "workers", on_queue_msg, (void *)1);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    for (int i = 0; s == NATS_OK && i < 100; i++) {
        char body[16];
        snprintf(body, sizeof body, "%d", i);
        s = natsConnection_PublishString(nc, "matrix.q", body);
    }
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    if (s != NATS_OK)
        return fail_status("subscribe/publish", s);
    wait_until(queue_total_is_100, STEP);
    int na = atomic_load(&queue_counts[0]), nb = atomic_load(&queue_counts[1]);
    natsSubscription_Unsubscribe(a);
    natsSubscription_Unsubscribe(b);
    natsSubscription_Destroy(a);
    natsSubscription_Destroy(b);
    if (na + nb != 100)
        return fail("%d of 100 messages (%d + %d)", na + nb, na, nb);
    if (na == 0 || nb == 0)
        return fail("not shared: %d + %d", na, nb);
    return 1;
}

static void on_service(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
    (void)sub;
    (void)closure;
    char body[256];
    snprintf(body, sizeof body, "re:%.*s", natsMsg_GetDataLength(m), natsMsg_GetData(m));
    natsConnection_PublishString(nc, natsMsg_GetReply(m), body);
    natsMsg_Destroy(m);
}

static int request_reply(natsConnection *nc) {
    natsSubscription *sub = NULL;
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_Subscribe(&sub, nc, "matrix.service", on_service, NULL);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    if (s == NATS_OK)
        s = natsConnection_RequestString(&reply, nc, "matrix.service", "ping", STEP);
    if (s != NATS_OK)
        return fail_status("request", s);
    int ok = natsMsg_GetDataLength(reply) == 7 && memcmp(natsMsg_GetData(reply), "re:ping", 7) == 0;
    if (!ok)
        fail("reply %.*s", natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return ok;
}

static int no_responders(natsConnection *nc) {
    natsMsg *reply = NULL;
    natsStatus s = natsConnection_RequestString(&reply, nc, "nobody.home", "x", STEP);
    if (s == NATS_NO_RESPONDERS)
        return 1;
    if (s == NATS_OK) {
        natsMsg_Destroy(reply);
        return fail("a reply");
    }
    return fail_status("not a no-responders error", s);
}

static int headers(natsConnection *nc) {
    natsSubscription *sub = NULL;
    natsMsg *out = NULL, *in = NULL;
    natsStatus s = natsConnection_SubscribeSync(&sub, nc, "matrix.headers");
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    if (s == NATS_OK)
        s = natsMsg_Create(&out, "matrix.headers", NULL, "body", 4);
    if (s == NATS_OK)
        s = natsMsgHeader_Set(out, "X-Matrix", "one");
    if (s == NATS_OK)
        s = natsMsgHeader_Set(out, "X-Other", "two words");
    if (s == NATS_OK)
        s = natsConnection_PublishMsg(nc, out);
    if (s == NATS_OK)
        s = natsSubscription_NextMsg(&in, sub, STEP);
    natsMsg_Destroy(out);
    if (s != NATS_OK)
        return fail_status("publish/receive", s);
    const char *one = NULL, *two = NULL;
    natsMsgHeader_Get(in, "X-Matrix", &one);
    natsMsgHeader_Get(in, "X-Other", &two);
    int ok = one && two && strcmp(one, "one") == 0 && strcmp(two, "two words") == 0 &&
             natsMsg_GetDataLength(in) == 4 && memcmp(natsMsg_GetData(in), "body", 4) == 0;
    if (!ok)
        fail("got %s %s", one ? one : "(none)", two ? two : "(none)");
    natsMsg_Destroy(in);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return ok;
}

static atomic_int drained;
static atomic_int drained_in_order = 1;

static void on_drain_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
    (void)nc;
    (void)sub;
    (void)closure;
    char want[16];
    int n = atomic_load(&drained);
    snprintf(want, sizeof want, "m%d", n);
    if ((size_t)natsMsg_GetDataLength(m) != strlen(want) || memcmp(natsMsg_GetData(m), want, strlen(want)) != 0)
        atomic_store(&drained_in_order, 0);
    atomic_fetch_add(&drained, 1);
    natsMsg_Destroy(m);
}

static natsConnection *drain_conn;

static int drain_closed(void) {
    return natsConnection_IsClosed(drain_conn);
}

static int flush_drain(void) {
    atomic_store(&drained, 0);
    atomic_store(&drained_in_order, 1);
    natsConnection *nc = connect_with(options());
    if (!nc)
        return 0;
    natsSubscription *sub = NULL;
    natsStatus s = natsConnection_Subscribe(&sub, nc, "matrix.drain", on_drain_msg, NULL);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    for (int i = 0; s == NATS_OK && i < 50; i++) {
        char body[16];
        snprintf(body, sizeof body, "m%d", i);
        s = natsConnection_PublishString(nc, "matrix.drain", body);
    }
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    if (s == NATS_OK)
        s = natsConnection_DrainTimeout(nc, STEP);
    if (s != NATS_OK)
        return fail_status("publish/drain", s);
    drain_conn = nc;
    int closed = wait_until(drain_closed, STEP);
    int n = atomic_load(&drained);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    if (!closed)
        return fail("not closed %d ms after the drain", STEP);
    if (n != 50 || !atomic_load(&drained_in_order))
        return fail("%d of 50 messages (in order: %d) before the drain ended", n, atomic_load(&drained_in_order));
    return 1;
}

static int max_payload(void) {
    natsConnection *nc = connect_with(options());
    if (!nc)
        return 0;
    int64_t want = atoll(env("NATS_MAX_PAYLOAD"));
    int64_t seen = natsConnection_GetMaxPayload(nc);
    int ok = 1;
    if (seen != want) {
        ok = fail("client sees max_payload %lld, the server sets %lld", (long long)seen, (long long)want);
    } else {
        char *big = calloc(1, (size_t)want * 2);
        natsStatus s = natsConnection_Publish(nc, "matrix.big", big, (int)want * 2);
        free(big);
        if (s == NATS_OK)
            ok = fail("an oversized publish was accepted");
        else if (s != NATS_MAX_PAYLOAD)
            ok = fail_status("refused otherwise", s);
        else if ((s = natsConnection_FlushTimeout(nc, STEP)) != NATS_OK)
            ok = fail_status("flush", s);
    }
    natsConnection_Destroy(nc);
    return ok;
}

/* Publish on `subject` until `sub` gets the message back (the client
 * reconnected and subscribed again), 10 s at most. */
static int round_trip_until(natsConnection *nc, natsSubscription *sub, const char *subject) {
    int64_t deadline = nats_Now() + 10000;
    while (nats_Now() < deadline) {
        natsMsg *m = NULL;
        natsConnection_PublishString(nc, subject, "back");
        if (natsSubscription_NextMsg(&m, sub, 250) == NATS_OK) {
            int back = natsMsg_GetDataLength(m) == 4 && memcmp(natsMsg_GetData(m), "back", 4) == 0;
            natsMsg_Destroy(m);
            if (back)
                return 1;
        }
    }
    return fail("no message came back within 10 s");
}

static int reconnect(void) {
    natsConnection *nc = connect_with(options());
    if (!nc)
        return 0;
    natsSubscription *sub = NULL;
    natsStatus s = natsConnection_SubscribeSync(&sub, nc, "matrix.reconnect");
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    int ok = s == NATS_OK ? 1 : fail_status("subscribe", s);
    ok = ok && ready("restart") && round_trip_until(nc, sub, "matrix.reconnect");
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

static int discovery(void) {
    natsConnection *nc = connect_with(options());
    if (!nc)
        return 0;
    const char *want = env("NATS_DISCOVER");
    char **servers = NULL;
    int count = 0, found = 0, ok = 1;
    natsConnection_GetDiscoveredServers(nc, &servers, &count);
    char all[256] = "";
    for (int i = 0; i < count; i++) {
        const char *hostport = strstr(servers[i], "://") ? strstr(servers[i], "://") + 3 : servers[i];
        if (strcmp(hostport, want) == 0)
            found = 1;
        strncat(all, servers[i], sizeof all - strlen(all) - 2);
        strcat(all, " ");
        free(servers[i]);
    }
    free(servers);
    if (!found)
        ok = fail("discovered [%s], not %s", all, want);
    natsSubscription *sub = NULL;
    natsStatus s = natsConnection_SubscribeSync(&sub, nc, "matrix.discovery");
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, STEP);
    if (ok && s != NATS_OK)
        ok = fail_status("subscribe", s);
    ok = ok && ready("kill") && round_trip_until(nc, sub, "matrix.discovery");
    if (ok) {
        char url[256] = "";
        natsConnection_GetConnectedUrl(nc, url, sizeof url);
        if (!strstr(url, want))
            ok = fail("connected to %s, not %s", url, want);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return ok;
}

static atomic_int lame_duck_seen;

static void on_lame_duck(natsConnection *nc, void *closure) {
    (void)nc;
    (void)closure;
    atomic_store(&lame_duck_seen, 1);
}

static int lame_duck_done(void) {
    return atomic_load(&lame_duck_seen);
}

static int lame_duck(void) {
    atomic_store(&lame_duck_seen, 0);
    natsOptions *o = options();
    natsOptions_SetLameDuckModeCB(o, on_lame_duck, NULL);
    natsConnection *nc = connect_with(o);
    if (!nc)
        return 0;
    natsStatus s = natsConnection_FlushTimeout(nc, STEP);
    int ok = s == NATS_OK ? 1 : fail_status("flush", s);
    ok = ok && ready("ldm");
    if (ok && !wait_until(lame_duck_done, 10000))
        ok = fail("no lame duck callback within 10 s");
    natsConnection_Destroy(nc);
    return ok;
}

static void basic(void) {
    const char *all[] = {"connect_plain", "pubsub_wildcards", "queue_group", "request_reply",
                         "no_responders", "headers", "flush_drain"};
    natsConnection *nc = connect_with(options());
    if (!nc) {
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            report(all[i], 0);
        return;
    }
    natsStatus s = natsConnection_FlushTimeout(nc, STEP);
    report("connect_plain", s == NATS_OK ? 1 : fail_status("flush", s));
    report("pubsub_wildcards", pubsub_wildcards(nc));
    report("queue_group", queue_group(nc));
    report("request_reply", request_reply(nc));
    report("no_responders", no_responders(nc));
    report("headers", headers(nc));
    report("flush_drain", flush_drain());
    natsConnection_Destroy(nc);
}

static void run_group(const char *group) {
    if (strcmp(group, "basic") == 0) {
        basic();
    } else if (strcmp(group, "user") == 0) {
        natsOptions *o = options();
        natsOptions_SetUserInfo(o, env("NATS_USER"), env("NATS_PASSWORD"));
        report("connect_user", connect_and_flush(o));
    } else if (strcmp(group, "token") == 0) {
        natsOptions *o = options();
        natsOptions_SetToken(o, env("NATS_TOKEN"));
        report("connect_token", connect_and_flush(o));
    } else if (strcmp(group, "tls") == 0 || strcmp(group, "tls_cert") == 0) {
        int cert = strcmp(group, "tls_cert") == 0;
        natsOptions *o = options();
        natsStatus s = natsOptions_SetSecure(o, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(o, env("NATS_CA"));
        if (s == NATS_OK && cert)
            s = natsOptions_LoadCertificatesChain(o, env("NATS_CERT"), env("NATS_KEY"));
        const char *name = cert ? "connect_tls_cert" : "connect_tls";
        if (s != NATS_OK) {
            natsOptions_Destroy(o);
            report(name, fail_status("TLS options", s));
        } else {
            report(name, connect_and_flush(o));
        }
    } else if (strcmp(group, "max_payload") == 0) {
        report("max_payload", max_payload());
    } else if (strcmp(group, "reconnect") == 0) {
        report("reconnect", reconnect());
    } else if (strcmp(group, "discovery") == 0) {
        report("discovery", discovery());
    } else if (strcmp(group, "lame_duck") == 0) {
        report("lame_duck", lame_duck());
    } else {
        printf("unknown group %s\n", group);
    }
}

/* Groups one after the other, as stdin asks (`env KEY=VALUE`, then `run
 * GROUP`, answered by `done GROUP`). */
static void serve(void) {
    char line[4096];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "env ", 4) == 0) {
            char *eq = strchr(line + 4, '=');
            if (eq) {
                *eq = 0;
                setenv(line + 4, eq + 1, 1);
            }
        } else if (strncmp(line, "run ", 4) == 0) {
            run_group(line + 4);
            printf("done %s\n", line + 4);
            fflush(stdout);
        }
    }
}

int main(int argc, char **argv) {
    const char *group = argc > 1 ? argv[1] : "";
    if (strcmp(group, "version") == 0)
        printf("version %s\n", nats_GetVersion());
    else if (strcmp(group, "serve") == 0)
        serve();
    else
        run_group(group);
    nats_Close();
    return 0;
}
