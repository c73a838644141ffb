// Package bus is opsbot's spine on NATS JetStream: it starts the embedded
// server (or connects to an existing one), keeps the OPSBOT stream and the
// reducer's durable consumer, publishes events and commands, and feeds the
// reducer in batches, acknowledging only after the store has committed.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opsbot/opsbot/incidents"
)

// Subjects of the stream.
const (
	EventSubjects   = "opsbot.events.>"
	RawSubjects     = "opsbot.raw.>"
	CommandSubjects = "opsbot.commands.>"
	ConsumerName    = "opsbot-reducer"
	// HeaderOrigin says where a message came from, for the timeline.
	HeaderOrigin = "Opsbot-Origin"
	// HeaderDelivery identifies the delivery a raw payload came in.
	HeaderDelivery = "Opsbot-Delivery"
)

// EventSubject is the subject a source's normalized events are published on.
func EventSubject(source string) string { return "opsbot.events." + source }

// RawSubject is the subject a source's own payloads (an Alertmanager
// webhook body, say) are published on, to be decoded by the reducer.
func RawSubject(source string) string { return "opsbot.raw." + source }

// Config says where NATS is and how the stream is kept.
type Config struct {
	// URL of an existing NATS server or cluster; empty embeds one.
	URL             string
	CredentialsFile string
	// Listen is the embedded server's client address, loopback only; port
	// 0 picks a free one; empty listens nowhere (in-process only).
	Listen string
	// StoreDir holds the embedded server's JetStream files.
	StoreDir        string
	SyncAlways      bool
	Stream          string
	Replicas        int
	DuplicateWindow time.Duration
	MaxAge          time.Duration
	AckWait         time.Duration
	BatchSize       int
}

// Bus is a connection to NATS with the stream and consumer in place.
type Bus struct {
	cfg    Config
	log    *slog.Logger
	srv    *server.Server
	nc     *nats.Conn // for the reducer's consumer
	pubNC  *nats.Conn // for publishing, so that intake and the reducer do not queue behind each other
	js     jetstream.JetStream
	pubJS  jetstream.JetStream
	stream jetstream.Stream
	cons   jetstream.Consumer
	closed chan struct{} // closed when the connection is

	// handoff holds the events of messages this process published until
	// the reducer takes them, so that it need not decode what was just
	// encoded. It is only a shortcut: a message not found there (another
	// publisher, a restart) is decoded.
	handoff  sync.Map // Nats-Msg-Id -> []*incidents.Event
	handoffN atomic.Int64
}

// maxHandoff bounds the events kept for the reducer.
const maxHandoff = 100_000

// Open starts or connects to NATS and creates or updates the stream and the
// consumer.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Bus, error) {
	b := &Bus{cfg: cfg, log: log, closed: make(chan struct{})}
	opts := []nats.Option{nats.Name("opsbot"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
	}
	url := cfg.URL
	if url == "" {
		srv, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		url = srv.ClientURL()
		opts = append(opts, nats.InProcessServer(srv))
	} else if cfg.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredentialsFile))
	}
	nc, err := nats.Connect(url, append(opts[:len(opts):len(opts)], nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }))...)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: connect to NATS: %w", err)
	}
	b.nc = nc
	if b.pubNC, err = nats.Connect(url, append(opts[:len(opts):len(opts)], nats.Name("opsbot-publisher"))...); err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: connect to NATS: %w", err)
	}
	if b.js, err = jetstream.New(nc); err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	if b.pubJS, err = jetstream.New(b.pubNC, jetstream.WithPublishAsyncMaxPending(8192)); err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	b.stream, err = b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        cfg.Stream,
		Description: "opsbot events and commands",
		Subjects:    []string{EventSubjects, RawSubjects, CommandSubjects},
		Storage:     jetstream.FileStorage,
		Replicas:    max(cfg.Replicas, 1),
		Retention:   jetstream.LimitsPolicy,
		Duplicates:  cfg.DuplicateWindow,
		MaxAge:      cfg.MaxAge,
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: stream %s: %w", cfg.Stream, err)
	}
	b.cons, err = b.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "opsbot's incident reducer",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.AckWait,
		MaxAckPending: 4 * max(cfg.BatchSize, 1) * 8,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: consumer %s: %w", ConsumerName, err)
	}
	return b, nil
}

func startEmbedded(cfg Config) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("bus: the embedded NATS server needs a store directory")
	}
	opts := &server.Options{
		ServerName: "opsbot", JetStream: true, StoreDir: cfg.StoreDir, SyncAlways: cfg.SyncAlways,
		NoSigs: true, NoLog: true, DontListen: cfg.Listen == "",
	}
	if cfg.Listen != "" {
		host, port, err := LoopbackAddr(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus: nats.listen: %w", err)
		}
		opts.Host, opts.Port = host, port
		if port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded NATS: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("bus: embedded NATS did not start listening on %s (is the port in use?)", cfg.Listen)
	}
	return srv, nil
}

// LoopbackAddr splits host:port and insists the host is a loopback address.
func LoopbackAddr(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port in %q", addr)
	}
	if host == "localhost" {
		return "127.0.0.1", port, nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", 0, fmt.Errorf("%q is not a loopback address", host)
	}
	return host, port, nil
}

func (b *Bus) keep(id string, evs []*incidents.Event) bool {
	if b.handoffN.Add(int64(len(evs))) > maxHandoff {
		b.handoffN.Add(-int64(len(evs)))
		return false
	}
	b.handoff.Store(id, evs)
	return true
}

func (b *Bus) take(id string) ([]*incidents.Event, bool) {
	v, ok := b.handoff.LoadAndDelete(id)
	if !ok {
		return nil, false
	}
	evs := v.([]*incidents.Event)
	b.handoffN.Add(-int64(len(evs)))
	return evs, true
}

// ClientURL is where a script can reach the embedded server, "" if none.
func (b *Bus) ClientURL() string {
	if b.srv == nil {
		return b.cfg.URL
	}
	if addr := b.srv.Addr(); addr != nil {
		return "nats://" + addr.String()
	}
	return ""
}

// Ready checks the connection, the stream and the consumer.
func (b *Bus) Ready(ctx context.Context) error {
	if !b.nc.IsConnected() || !b.pubNC.IsConnected() {
		return errors.New("not connected to NATS")
	}
	if _, err := b.stream.Info(ctx); err != nil {
		return fmt.Errorf("stream %s: %w", b.cfg.Stream, err)
	}
	if _, err := b.cons.Info(ctx); err != nil {
		return fmt.Errorf("consumer %s: %w", ConsumerName, err)
	}
	return nil
}

// Lag is how many stream messages the reducer has not yet acknowledged.
func (b *Bus) Lag(ctx context.Context) (uint64, error) {
	info, err := b.cons.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.NumPending + uint64(info.NumAckPending), nil
}

// Close drains the connections and stops the embedded server.
func (b *Bus) Close() {
	if b.pubNC != nil {
		b.pubNC.Close() // intake has stopped: nothing is waiting for an acknowledgement
	}
	if b.nc != nil {
		if err := b.nc.Drain(); err != nil {
			b.nc.Close()
		}
		select {
		case <-b.closed:
		case <-time.After(10 * time.Second):
			b.nc.Close()
		}
	}
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
	}
}

// StreamMessages is the number of messages the stream holds.
func (b *Bus) StreamMessages(ctx context.Context) (uint64, error) {
	info, err := b.stream.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}
