package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opsbot/opsbot/incidents"
)

// PublishEvents publishes validated events and returns once JetStream has
// stored every one of them, or an error if any could not be stored. A
// duplicate within the stream's window counts as stored.
func (b *Bus) PublishEvents(ctx context.Context, evs []*incidents.Event, origin string) error {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for _, ev := range evs {
		body, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("bus: encode event %s: %w", ev.ID, err)
		}
		env := incidents.Envelope{Event: ev}
		f, err := b.publishAsync(ctx, EventSubject(ev.Source), env.ID(), origin, body)
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	return wait(ctx, futures)
}

// CommandSubject is the subject a command on incident id is published on.
func CommandSubject(id int64) string { return "opsbot.commands." + strconv.FormatInt(id, 10) }

// PublishCommand publishes a person's command and returns once it is stored.
func (b *Bus) PublishCommand(ctx context.Context, c *incidents.Command) error {
	body, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("bus: encode command: %w", err)
	}
	env := incidents.Envelope{Command: c}
	f, err := b.publishAsync(ctx, CommandSubject(c.IncidentID), env.ID(), c.Origin, body)
	if err != nil {
		return err
	}
	return wait(ctx, []jetstream.PubAckFuture{f})
}

func (b *Bus) publishAsync(ctx context.Context, subject, id, origin string, body []byte) (jetstream.PubAckFuture, error) {
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if origin != "" {
		msg.Header.Set(HeaderOrigin, origin)
	}
	f, err := b.js.PublishMsgAsync(msg, jetstream.WithExpectStream(b.cfg.Stream))
	if err != nil {
		return nil, fmt.Errorf("bus: publish to %s: %w", subject, err)
	}
	return f, nil
}

func wait(ctx context.Context, futures []jetstream.PubAckFuture) error {
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("bus: store %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return fmt.Errorf("bus: store %s: %w", f.Msg().Subject, ctx.Err())
		}
	}
	return nil
}
