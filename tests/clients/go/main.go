// The client matrix's program for nats.go, built offline against Debian's
// golang-github-nats-io-go-nats-dev (GOPATH mode, GO111MODULE=off).
//
// Usage: main GROUP (or serve), with the servers in environment variables; prints
// `ok SCENARIO` / `fail SCENARIO REASON` per scenario and `ready WHAT` where
// the harness must act (it answers `go` on stdin). The scenarios and their
// contract: tests/clients/README.md.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

const step = 5 * time.Second

var stdin = bufio.NewReader(os.Stdin)

func report(scenario string, err error) {
	if err == nil {
		fmt.Printf("ok %s\n", scenario)
	} else {
		fmt.Printf("fail %s %s\n", scenario, strings.ReplaceAll(err.Error(), "\n", " "))
	}
}

func ready(what string) error {
	fmt.Printf("ready %s\n", what)
	line, err := stdin.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "go" {
		return fmt.Errorf("no go after ready %s: %q %v", what, line, err)
	}
	return nil
}

func connect(extra ...nats.Option) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Timeout(step),
		nats.ReconnectWait(100 * time.Millisecond),
		nats.MaxReconnects(100),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}),
	}
	nc, err := nats.Connect(os.Getenv("NATS_URL"), append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return nc, nil
}

func connectAndFlush(extra ...nats.Option) error {
	nc, err := connect(extra...)
	if err != nil {
		return err
	}
	defer nc.Close()
	return nc.FlushTimeout(step)
}

func pubsubWildcards(nc *nats.Conn) error {
	star, err := nc.SubscribeSync("matrix.*")
	if err != nil {
		return err
	}
	gt, err := nc.SubscribeSync("matrix.>")
	if err != nil {
		return err
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	for _, s := range []string{"matrix.a", "matrix.a.b", "matrix.end"} {
		if err := nc.Publish(s, []byte("x")); err != nil {
			return err
		}
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	for _, c := range []struct {
		sub  *nats.Subscription
		want []string
	}{{star, []string{"matrix.a", "matrix.end"}}, {gt, []string{"matrix.a", "matrix.a.b", "matrix.end"}}} {
		var got []string
		for len(got) == 0 || got[len(got)-1] != "matrix.end" {
			m, err := c.sub.NextMsg(step)
			if err != nil {
				return fmt.Errorf("after %v: %w", got, err)
			}
			got = append(got, m.Subject)
		}
		if strings.Join(got, " ") != strings.Join(c.want, " ") {
			return fmt.Errorf("got %v, want %v", got, c.want)
		}
		c.sub.Unsubscribe()
	}
	return nil
}

func queueGroup(nc *nats.Conn) error {
	var counts [2]int64
	var subs []*nats.Subscription
	for i := 0; i < 2; i++ {
		i := i
		sub, err := nc.QueueSubscribe("matrix.q", "workers", func(*nats.Msg) { atomic.AddInt64(&counts[i], 1) })
		if err != nil {
			return err
		}
		subs = append(subs, sub)
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	for i := 0; i < 100; i++ {
		if err := nc.Publish("matrix.q", []byte(strconv.Itoa(i))); err != nil {
			return err
		}
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	deadline := time.Now().Add(step)
	for atomic.LoadInt64(&counts[0])+atomic.LoadInt64(&counts[1]) < 100 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for _, s := range subs {
		s.Unsubscribe()
	}
	a, b := atomic.LoadInt64(&counts[0]), atomic.LoadInt64(&counts[1])
	if a+b != 100 {
		return fmt.Errorf("%d of 100 messages (%d + %d)", a+b, a, b)
	}
	if a == 0 || b == 0 {
		return fmt.Errorf("not shared: %d + %d", a, b)
	}
	return nil
}

func requestReply(nc *nats.Conn) error {
	sub, err := nc.Subscribe("matrix.service", func(m *nats.Msg) { m.Respond(append([]byte("re:"), m.Data...)) })
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	reply, err := nc.Request("matrix.service", []byte("ping"), step)
	if err != nil {
		return err
	}
	if string(reply.Data) != "re:ping" {
		return fmt.Errorf("reply %q", reply.Data)
	}
	return nil
}

func noResponders(nc *nats.Conn) error {
	m, err := nc.Request("nobody.home", []byte("x"), step)
	if errors.Is(err, nats.ErrNoResponders) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("not a no-responders error: %w", err)
	}
	return fmt.Errorf("a reply: %q", m.Data)
}

func headers(nc *nats.Conn) error {
	sub, err := nc.SubscribeSync("matrix.headers")
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	out := nats.NewMsg("matrix.headers")
	out.Header.Set("X-Matrix", "one")
	out.Header.Set("X-Other", "two words")
	out.Data = []byte("body")
	if err := nc.PublishMsg(out); err != nil {
		return err
	}
	m, err := sub.NextMsg(step)
	if err != nil {
		return err
	}
	one, two := m.Header.Get("X-Matrix"), m.Header.Get("X-Other")
	if one != "one" || two != "two words" || string(m.Data) != "body" {
		return fmt.Errorf("got %q %q %q", one, two, m.Data)
	}
	return nil
}

func flushDrain() error {
	closed := make(chan struct{})
	nc, err := connect(nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	if err != nil {
		return err
	}
	var got []string
	if _, err := nc.Subscribe("matrix.drain", func(m *nats.Msg) { got = append(got, string(m.Data)) }); err != nil {
		return err
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	for i := 0; i < 50; i++ {
		if err := nc.Publish("matrix.drain", []byte(fmt.Sprintf("m%d", i))); err != nil {
			return err
		}
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	if err := nc.Drain(); err != nil {
		return err
	}
	select {
	case <-closed:
	case <-time.After(step):
		return fmt.Errorf("not closed %v after the drain", step)
	}
	for i, g := range got {
		if g != fmt.Sprintf("m%d", i) {
			return fmt.Errorf("message %d is %q", i, g)
		}
	}
	if len(got) != 50 {
		return fmt.Errorf("%d of 50 messages before the drain ended", len(got))
	}
	return nil
}

func maxPayload() error {
	nc, err := connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	want, _ := strconv.ParseInt(os.Getenv("NATS_MAX_PAYLOAD"), 10, 64)
	if nc.MaxPayload() != want {
		return fmt.Errorf("client sees max_payload %d, the server sets %d", nc.MaxPayload(), want)
	}
	err = nc.Publish("matrix.big", make([]byte, want*2))
	if err == nil {
		return errors.New("an oversized publish was accepted")
	}
	if !errors.Is(err, nats.ErrMaxPayload) {
		return fmt.Errorf("refused otherwise: %w", err)
	}
	return nc.FlushTimeout(step)
}

// roundTripUntil publishes on subject until sub gets the message back (the
// client reconnected and subscribed again), 10 s at most.
func roundTripUntil(nc *nats.Conn, sub *nats.Subscription, subject string) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		nc.Publish(subject, []byte("back"))
		if m, err := sub.NextMsg(250 * time.Millisecond); err == nil && string(m.Data) == "back" {
			return nil
		}
	}
	return errors.New("no message came back within 10 s")
}

func reconnect() error {
	nc, err := connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("matrix.reconnect")
	if err != nil {
		return err
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	if err := ready("restart"); err != nil {
		return err
	}
	return roundTripUntil(nc, sub, "matrix.reconnect")
}

func discovery() error {
	nc, err := connect()
	if err != nil {
		return err
	}
	defer nc.Close()
	want := os.Getenv("NATS_DISCOVER")
	found := false
	for _, u := range nc.DiscoveredServers() {
		if strings.HasSuffix(u, "://"+want) {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("discovered %v, not %s", nc.DiscoveredServers(), want)
	}
	sub, err := nc.SubscribeSync("matrix.discovery")
	if err != nil {
		return err
	}
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	if err := ready("kill"); err != nil {
		return err
	}
	if err := roundTripUntil(nc, sub, "matrix.discovery"); err != nil {
		return err
	}
	if !strings.HasSuffix(nc.ConnectedUrl(), "://"+want) {
		return fmt.Errorf("connected to %s, not %s", nc.ConnectedUrl(), want)
	}
	return nil
}

func lameDuck() error {
	seen := make(chan struct{}, 1)
	nc, err := connect(nats.LameDuckModeHandler(func(*nats.Conn) {
		select {
		case seen <- struct{}{}:
		default:
		}
	}))
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := nc.FlushTimeout(step); err != nil {
		return err
	}
	if err := ready("ldm"); err != nil {
		return err
	}
	select {
	case <-seen:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("no lame duck handler call within 10 s")
	}
}

func basic() {
	nc, err := connect()
	if err != nil {
		for _, s := range []string{"connect_plain", "pubsub_wildcards", "queue_group", "request_reply",
			"no_responders", "headers", "flush_drain"} {
			report(s, err)
		}
		return
	}
	defer nc.Close()
	report("connect_plain", nc.FlushTimeout(step))
	report("pubsub_wildcards", pubsubWildcards(nc))
	report("queue_group", queueGroup(nc))
	report("request_reply", requestReply(nc))
	report("no_responders", noResponders(nc))
	report("headers", headers(nc))
	report("flush_drain", flushDrain())
}

func runGroup(group string) {
	switch group {
	case "basic":
		basic()
	case "user":
		report("connect_user", connectAndFlush(nats.UserInfo(os.Getenv("NATS_USER"), os.Getenv("NATS_PASSWORD"))))
	case "token":
		report("connect_token", connectAndFlush(nats.Token(os.Getenv("NATS_TOKEN"))))
	case "tls":
		report("connect_tls", connectAndFlush(nats.RootCAs(os.Getenv("NATS_CA"))))
	case "tls_cert":
		report("connect_tls_cert", connectAndFlush(nats.RootCAs(os.Getenv("NATS_CA")),
			nats.ClientCert(os.Getenv("NATS_CERT"), os.Getenv("NATS_KEY"))))
	case "max_payload":
		report("max_payload", maxPayload())
	case "reconnect":
		report("reconnect", reconnect())
	case "discovery":
		report("discovery", discovery())
	case "lame_duck":
		report("lame_duck", lameDuck())
	default:
		fmt.Printf("unknown group %s\n", group)
	}
}

// serve runs groups one after the other, as stdin asks (`env KEY=VALUE`,
// then `run GROUP`, answered by `done GROUP`).
func serve() {
	for {
		line, err := stdin.ReadString('\n')
		if err != nil {
			return
		}
		command, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch command {
		case "env":
			key, value, _ := strings.Cut(arg, "=")
			os.Setenv(key, value)
		case "run":
			runGroup(arg)
			fmt.Printf("done %s\n", arg)
		}
	}
}

func main() {
	group := ""
	if len(os.Args) > 1 {
		group = os.Args[1]
	}
	switch group {
	case "version":
		fmt.Printf("version %s\n", nats.Version)
	case "serve":
		serve()
	default:
		runGroup(group)
	}
}
