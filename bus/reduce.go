package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/opsbot/opsbot/incidents"
)

// RawDecoder turns a source's own payload into events, as its HTTP hook
// does. delivery identifies the message, for sources whose payloads carry
// no id or time of their own.
type RawDecoder func(body []byte, delivery string) ([]*incidents.Event, error)

// Applier applies a batch of stream messages in one transaction.
type Applier interface {
	Apply(ctx context.Context, batch []incidents.Envelope) ([]incidents.Outcome, error)
}

// Hooks are told what the reducer did; either may be nil.
type Hooks struct {
	Applied  func(batch []incidents.Envelope, out []incidents.Outcome)
	Rejected func(subject, reason string)
	// Raw decodes opsbot.raw.<source> payloads, by source.
	Raw map[string]RawDecoder
}

// lingerFor is how long the reducer waits to fill a batch.
const lingerFor = 2 * time.Millisecond

// Reduce feeds the consumer's messages to a, in batches of up to
// Config.BatchSize, acknowledging each batch after a has committed it. When
// ctx ends it drains: what was already delivered is applied, then it returns.
func (b *Bus) Reduce(ctx context.Context, a Applier, defaultSev incidents.Severity, h Hooks) error {
	size := max(b.cfg.BatchSize, 1)
	// Messages are decoded as they arrive, on the consumer's goroutine,
	// while the previous batch is being written.
	msgs := make(chan decoded, 2*size)
	cc, err := b.cons.Consume(func(m jetstream.Msg) {
		envs, err := b.decode(m, defaultSev, h.Raw)
		msgs <- decoded{m, envs, err}
	},
		jetstream.PullMaxMessages(2*size),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.log.Warn("reducer: consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("bus: consume: %w", err)
	}
	done, closed, finishing := ctx.Done(), cc.Closed(), false
	for {
		var first decoded
		if finishing {
			select {
			case first = <-msgs:
			default:
				return nil
			}
		} else {
			select {
			case first = <-msgs:
			case <-done:
				cc.Drain()
				done = nil
				continue
			case <-closed:
				finishing = true
				continue
			}
		}
		// Linger a moment for more: one transaction of many events costs
		// little more than one of a few.
		batch := []decoded{first}
		linger := time.NewTimer(lingerFor)
	fill:
		for len(batch) < size {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		b.applyBatch(a, batch, h)
	}
}

// decoded is a message with what decode made of it.
type decoded struct {
	msg  jetstream.Msg
	envs []incidents.Envelope
	err  error
}

func (b *Bus) applyBatch(a Applier, batch []decoded, h Hooks) {
	envs := make([]incidents.Envelope, 0, len(batch))
	keep := make([]jetstream.Msg, 0, len(batch))
	for _, d := range batch {
		m, err := d.msg, d.err
		if err != nil {
			b.log.Warn("reducer: rejected a message", "subject", m.Subject(), "err", err)
			if h.Rejected != nil {
				h.Rejected(m.Subject(), "invalid")
			}
			if err := m.Term(); err != nil {
				b.log.Warn("reducer: term", "err", err)
			}
			continue
		}
		envs = append(envs, d.envs...)
		keep = append(keep, m)
	}
	if len(envs) == 0 {
		return
	}
	// The batch is applied even while shutting down: it is already ours.
	ctx := context.Background()
	var (
		out []incidents.Outcome
		err error
	)
	for attempt, wait := 0, 50*time.Millisecond; attempt < 4; attempt, wait = attempt+1, wait*4 {
		if out, err = a.Apply(ctx, envs); err == nil {
			break
		}
		b.log.Error("reducer: apply failed", "messages", len(envs), "attempt", attempt+1, "err", err)
		time.Sleep(wait)
	}
	if err != nil {
		for _, m := range keep {
			m.NakWithDelay(5 * time.Second)
		}
		return
	}
	for _, m := range keep {
		if err := m.Ack(); err != nil {
			b.log.Warn("reducer: ack (the message will be redelivered and skipped)", "err", err)
		}
	}
	if h.Applied != nil {
		h.Applied(envs, out)
	}
}

// decode turns a stream message into envelopes, or says why it cannot.
func (b *Bus) decode(m jetstream.Msg, defaultSev incidents.Severity, raw map[string]RawDecoder) ([]incidents.Envelope, error) {
	meta, err := m.Metadata()
	if err != nil {
		return nil, err
	}
	env := incidents.Envelope{At: meta.Timestamp.UTC(), Seq: meta.Sequence.Stream, Origin: m.Headers().Get(HeaderOrigin)}
	if env.Origin == "" {
		env.Origin = "nats " + m.Subject()
	}
	if evs, ok := b.take(m.Headers().Get(jetstream.MsgIDHeader)); ok {
		out := make([]incidents.Envelope, len(evs))
		for i, ev := range evs {
			out[i] = env
			out[i].Event = ev
		}
		return out, nil
	}
	subject := m.Subject()
	switch {
	case strings.HasPrefix(subject, "opsbot.raw."):
		source := strings.TrimPrefix(subject, "opsbot.raw.")
		dec, ok := raw[source]
		if !ok {
			return nil, fmt.Errorf("no decoder for raw %s payloads", source)
		}
		delivery := m.Headers().Get(HeaderDelivery)
		if delivery == "" {
			if delivery = m.Headers().Get(jetstream.MsgIDHeader); delivery == "" {
				delivery = fmt.Sprintf("seq-%d", meta.Sequence.Stream)
			}
		}
		evs, err := dec(m.Data(), delivery)
		if err != nil {
			return nil, fmt.Errorf("%s payload: %w", source, err)
		}
		out := make([]incidents.Envelope, len(evs))
		for i, ev := range evs {
			out[i] = env
			out[i].Event = ev
		}
		return out, nil
	case strings.HasPrefix(subject, "opsbot.events."):
		var body struct {
			incidents.Event
			Events []*incidents.Event `json:"events"`
		}
		if err := json.Unmarshal(m.Data(), &body); err != nil {
			return nil, fmt.Errorf("event: %w", err)
		}
		source := strings.TrimPrefix(subject, "opsbot.events.")
		evs := body.Events
		if len(evs) == 0 {
			ev := body.Event
			if ev.ID == "" {
				// A publisher that sets no id gets one per stored message;
				// Nats-Msg-Id still deduplicates its retries.
				if ev.ID = m.Headers().Get(jetstream.MsgIDHeader); ev.ID == "" {
					ev.ID = fmt.Sprintf("seq-%d", meta.Sequence.Stream)
				} else {
					ev.ID = strings.TrimPrefix(ev.ID, source+":")
				}
			}
			evs = []*incidents.Event{&ev}
		} else if body.Event.ID != "" || body.Event.DedupKey != "" {
			return nil, errors.New("a message is one event or {\"events\": [...]}, not both")
		}
		out := make([]incidents.Envelope, 0, len(evs))
		for i, ev := range evs {
			if ev == nil {
				return nil, fmt.Errorf("events[%d] is null", i)
			}
			if ev.Source == "" {
				ev.Source = source
			}
			if ev.Source != source {
				return nil, fmt.Errorf("event source %q published on %s", ev.Source, subject)
			}
			if ev.ID == "" {
				return nil, fmt.Errorf("events[%d] has no id", i)
			}
			if err := ev.Validate(defaultSev); err != nil {
				return nil, fmt.Errorf("events[%d]: %w", i, err)
			}
			e := env
			e.Event = ev
			out = append(out, e)
		}
		return out, nil
	case strings.HasPrefix(subject, "opsbot.commands."):
		var c incidents.Command
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			return nil, fmt.Errorf("command: %w", err)
		}
		if c.ID == "" {
			return nil, errors.New("command without an id")
		}
		env.Command = &c
		return []incidents.Envelope{env}, nil
	}
	return nil, errors.New("not an opsbot subject")
}
