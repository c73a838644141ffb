package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/opsbot/opsbot/bus"
	"github.com/opsbot/opsbot/incidents"
)

const eventUsage = `usage: opsbot event send --source NAME --dedup-key KEY [flags]

Sends one normalized event (docs/events.md) to a running opsbot, over HTTP
(--server, token from OPSBOT_TOKEN) or straight to its NATS server (--nats).
Exit status 0: the event is stored and will be applied; 1: it is not
(the reason is printed); 2: a mistake in the command line.

For a hook that retries, set --id: the same id is applied once.
`

// keyValues is a repeatable name=value flag.
type keyValues map[string]string

func (kv keyValues) String() string { return "" }
func (kv keyValues) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not name=value", s)
	}
	kv[k] = v
	return nil
}

// links is a repeatable href[|text] flag.
type links []incidents.Link

func (l *links) String() string { return "" }
func (l *links) Set(s string) error {
	href, text, _ := strings.Cut(s, "|")
	*l = append(*l, incidents.Link{Href: href, Text: text})
	return nil
}

func eventCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "drift" {
		return driftCmd(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "send" {
		fmt.Fprint(stderr, eventUsage+driftUsage)
		return usageError("event needs an action: send or drift")
	}
	fs := flag.NewFlagSet("event send", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, eventUsage); fs.PrintDefaults() }
	var (
		ev     incidents.Event
		labels = keyValues{}
		lks    links
	)
	fs.StringVar(&ev.ID, "id", "", "delivery id: the same id is applied once (default: a new one)")
	fs.StringVar(&ev.Source, "source", "", "who sends it: a-z, 0-9, _ and - (required)")
	action := fs.String("action", "trigger", "trigger, resolve or notice")
	fs.StringVar(&ev.DedupKey, "dedup-key", "", "names the alert (required)")
	fs.StringVar(&ev.GroupKey, "group-key", "", "the incident the alert belongs to (default: the dedup key)")
	severity := fs.String("severity", "", "critical, warning or info (default: the server's default)")
	fs.StringVar(&ev.Summary, "summary", "", "one line for people")
	fs.Var(labels, "label", "a label, name=value (repeatable)")
	details := fs.String("details", "", "details as JSON; @FILE reads a file, @- standard input")
	fs.Var(&lks, "link", "a link, URL or URL|text (repeatable)")
	occurred := fs.String("occurred-at", "", "when it happened, RFC 3339 (default: when it is stored)")
	api := apiFlag(fs)
	natsURL := fs.String("nats", "", "publish to this NATS server instead of HTTP, e.g. nats://127.0.0.1:4222")
	wait := fs.Bool("wait", false, "HTTP only: wait for the incident engine and print what it did")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	if pos, err := parseInterspersed(fs, args[1:]); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("event send takes only flags, not " + strings.Join(pos, " "))
	}
	ev.Action, ev.Severity = incidents.Action(*action), incidents.Severity(*severity)
	if len(labels) > 0 {
		ev.Labels = labels
	}
	ev.Links = lks
	if *details != "" {
		d, err := readArg(*details)
		if err != nil {
			return usageError("--details: " + err.Error())
		}
		if !json.Valid(d) {
			return usageError("--details: not valid JSON")
		}
		ev.Details = d
	}
	if *occurred != "" {
		t, err := time.Parse(time.RFC3339, *occurred)
		if err != nil {
			return usageError("--occurred-at: " + err.Error())
		}
		ev.OccurredAt = t
	}
	if ev.ID == "" {
		b := make([]byte, 16)
		rand.Read(b)
		ev.ID = hex.EncodeToString(b)
	}
	// The server fills the default severity; check the rest here.
	check := ev
	if err := check.Validate(incidents.Warning); err != nil {
		return usageError(err.Error())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *natsURL != "" {
		if err := publishNATS(ctx, *natsURL, &ev); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "event %s stored\n", ev.ID)
		return nil
	}
	c := api()
	out, err := c.SendEvent(ctx, &ev, *wait)
	if err != nil {
		return err
	}
	if o, ok := out["outcome"].(string); ok {
		fmt.Fprintf(stdout, "event %s applied: %s", ev.ID, o)
		if id, ok := out["incident_id"].(float64); ok && id > 0 {
			fmt.Fprintf(stdout, " (incident #%d)", int64(id))
		}
		fmt.Fprintln(stdout)
		return nil
	}
	fmt.Fprintf(stdout, "event %s stored\n", ev.ID)
	return nil
}

func readArg(s string) ([]byte, error) {
	switch {
	case s == "@-":
		return io.ReadAll(io.LimitReader(os.Stdin, incidents.MaxDetails+1))
	case strings.HasPrefix(s, "@"):
		return os.ReadFile(s[1:])
	}
	return []byte(s), nil
}

// publishNATS publishes the event on its subject and waits for JetStream
// to store it.
func publishNATS(ctx context.Context, url string, ev *incidents.Event) error {
	opts := []nats.Option{nats.Name("opsbot event send")}
	if creds := os.Getenv("OPSBOT_NATS_CREDS"); creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return fmt.Errorf("cannot reach NATS at %s: %w", url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(bus.EventSubject(ev.Source))
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, ev.Source+":"+ev.ID)
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) {
			return fmt.Errorf("no JetStream stream stores %s: is opsbot running against %s?", msg.Subject, url)
		}
		return fmt.Errorf("not stored: %w", err)
	}
	return nil
}

const driftUsage = `
usage: opsbot event drift --host NAME (--drifted | --in-sync) [--what TEXT] [--diff FILE|-] [--revision REV]

Reports whether a host has drifted from the declarative repo to the drift
hook (POST /hooks/drift): drifted opens an alert for the host, in sync
resolves it. Same exit statuses as event send.
`

func driftCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("event drift", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, driftUsage); fs.PrintDefaults() }
	host := fs.String("host", "", "the host (default: this machine's name)")
	drifted := fs.Bool("drifted", false, "the host has drifted")
	inSync := fs.Bool("in-sync", false, "the host is in sync again")
	what := fs.String("what", "", "what drifted, in a line")
	diff := fs.String("diff", "", "a file with a short diff, - for standard input")
	revision := fs.String("revision", "", "the revision the host runs")
	id := fs.String("id", "", "delivery id: the same id is applied once")
	api := apiFlag(fs)
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("event drift takes only flags")
	}
	if *drifted == *inSync {
		return usageError("say --drifted or --in-sync")
	}
	if *host == "" {
		h, err := os.Hostname()
		if err != nil {
			return usageError("--host is needed: " + err.Error())
		}
		*host = h
	}
	report := map[string]any{"host": *host, "drifted": *drifted, "what": *what, "revision": *revision, "id": *id}
	if *diff != "" {
		name := *diff
		if name != "-" {
			name = "@" + name
		} else {
			name = "@-"
		}
		d, err := readArg(name)
		if err != nil {
			return usageError("--diff: " + err.Error())
		}
		if len(d) > 64<<10 {
			d = d[:64<<10] // the hook keeps less still
		}
		report["diff"] = string(d)
	}
	body, err := json.Marshal(report)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := api().Post(ctx, "/hooks/drift", body); err != nil {
		return err
	}
	state := "in sync"
	if *drifted {
		state = "drifted"
	}
	fmt.Fprintf(stdout, "%s reported %s\n", *host, state)
	return nil
}
