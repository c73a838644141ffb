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

// Applier applies a batch of stream messages in one transaction.
type Applier interface {
	Apply(ctx context.Context, batch []incidents.Envelope) ([]incidents.Outcome, error)
}

// Hooks are told what the reducer did; either may be nil.
type Hooks struct {
	Applied  func(batch []incidents.Envelope, out []incidents.Outcome)
	Rejected func(subject, reason string)
}

// Reduce feeds the consumer's messages to a, in batches of up to
// Config.BatchSize, acknowledging each batch after a has committed it. When
// ctx ends it drains: what was already delivered is applied, then it returns.
func (b *Bus) Reduce(ctx context.Context, a Applier, defaultSev incidents.Severity, h Hooks) error {
	size := max(b.cfg.BatchSize, 1)
	msgs := make(chan jetstream.Msg, 2*size)
	cc, err := b.cons.Consume(func(m jetstream.Msg) { msgs <- m },
		jetstream.PullMaxMessages(2*size),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			b.log.Warn("reducer: consume", "err", err)
		}))
	if err != nil {
		return fmt.Errorf("bus: consume: %w", err)
	}
	done, closed, finishing := ctx.Done(), cc.Closed(), false
	for {
		var first jetstream.Msg
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
		batch := []jetstream.Msg{first}
	fill:
		for len(batch) < size {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		b.applyBatch(a, batch, defaultSev, h)
	}
}

func (b *Bus) applyBatch(a Applier, msgs []jetstream.Msg, defaultSev incidents.Severity, h Hooks) {
	envs := make([]incidents.Envelope, 0, len(msgs))
	keep := msgs[:0]
	for _, m := range msgs {
		env, err := decode(m, defaultSev)
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
		envs = append(envs, env)
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

// decode turns a stream message into an envelope, or says why it cannot.
func decode(m jetstream.Msg, defaultSev incidents.Severity) (incidents.Envelope, error) {
	meta, err := m.Metadata()
	if err != nil {
		return incidents.Envelope{}, err
	}
	env := incidents.Envelope{At: meta.Timestamp.UTC(), Seq: meta.Sequence.Stream, Origin: m.Headers().Get(HeaderOrigin)}
	if env.Origin == "" {
		env.Origin = "nats " + m.Subject()
	}
	subject := m.Subject()
	switch {
	case strings.HasPrefix(subject, "opsbot.events."):
		var ev incidents.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			return env, fmt.Errorf("event: %w", err)
		}
		source := strings.TrimPrefix(subject, "opsbot.events.")
		if ev.Source == "" {
			ev.Source = source
		}
		if ev.Source != source {
			return env, fmt.Errorf("event source %q published on %s", ev.Source, subject)
		}
		if ev.ID == "" {
			// A publisher that sets no id gets one per stored message;
			// Nats-Msg-Id still deduplicates its retries.
			if ev.ID = m.Headers().Get(jetstream.MsgIDHeader); ev.ID == "" {
				ev.ID = fmt.Sprintf("seq-%d", meta.Sequence.Stream)
			} else {
				ev.ID = strings.TrimPrefix(ev.ID, ev.Source+":")
			}
		}
		if err := ev.Validate(defaultSev); err != nil {
			return env, err
		}
		env.Event = &ev
	case strings.HasPrefix(subject, "opsbot.commands."):
		var c incidents.Command
		if err := json.Unmarshal(m.Data(), &c); err != nil {
			return env, fmt.Errorf("command: %w", err)
		}
		if c.ID == "" {
			return env, errors.New("command without an id")
		}
		env.Command = &c
	default:
		return env, errors.New("not an opsbot subject")
	}
	return env, nil
}
