package bus

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/opsbot/opsbot/incidents"
)

// Batch is the body of a message carrying several events of one source,
// as a webhook's alerts are published: one message, one acknowledgement.
type Batch struct {
	Events []*incidents.Event `json:"events"`
}

// PublishEvents publishes validated events of one source and returns once
// JetStream has stored every one of them, or an error if any could not be
// stored. They go as one message (more if they exceed NATS's payload
// limit) whose id derives from theirs, so a retried webhook is stored once.
func (b *Bus) PublishEvents(ctx context.Context, evs []*incidents.Event, origin string) error {
	if len(evs) == 0 {
		return nil
	}
	limit := int(b.pubNC.MaxPayload()) - 4096
	var (
		futures []jetstream.PubAckFuture
		ids     []string
	)
	for start := 0; start < len(evs); {
		body, n, err := encodeBatch(evs[start:], limit)
		if err != nil {
			return err
		}
		f, id, err := b.publishKept(ctx, EventSubject(evs[start].Source), body, evs[start:start+n], origin, "")
		if err != nil {
			return err
		}
		futures, ids = append(futures, f), append(ids, id)
		start += n
	}
	return b.settle(ctx, futures, ids)
}

// PublishRaw publishes a source's payload as it came, for the reducer to
// decode with the same decoder that made evs from it, and returns once
// JetStream has stored it. A payload too large for one NATS message goes
// as its events instead.
func (b *Bus) PublishRaw(ctx context.Context, source string, body []byte, evs []*incidents.Event, origin, delivery string) error {
	if len(body) > int(b.pubNC.MaxPayload())-4096 {
		return b.PublishEvents(ctx, evs, origin)
	}
	f, id, err := b.publishKept(ctx, RawSubject(source), body, evs, origin, delivery)
	if err != nil {
		return err
	}
	return b.settle(ctx, []jetstream.PubAckFuture{f}, []string{id})
}

// publishKept publishes body, whose events are evs, with an id derived from
// theirs (so a retried webhook is stored once), and hands evs to the
// reducer. It returns the id if the events were kept.
func (b *Bus) publishKept(ctx context.Context, subject string, body []byte, evs []*incidents.Event, origin, delivery string) (jetstream.PubAckFuture, string, error) {
	h := sha256.New()
	for _, ev := range evs {
		h.Write([]byte(ev.ID))
		h.Write([]byte{0})
	}
	id := evs[0].Source + ":batch:" + hex.EncodeToString(h.Sum(nil)[:16])
	kept := b.keep(id, evs)
	f, err := b.publishAsync(ctx, subject, id, origin, delivery, body)
	if err != nil {
		if kept {
			b.take(id)
		}
		return nil, "", err
	}
	if !kept {
		id = ""
	}
	return f, id, nil
}

// settle waits for the acknowledgements and drops what was kept for the
// reducer of messages it will never see: duplicates and failures.
func (b *Bus) settle(ctx context.Context, futures []jetstream.PubAckFuture, ids []string) error {
	acks, err := wait(ctx, futures)
	for i, id := range ids {
		if id != "" && (i >= len(acks) || acks[i].Duplicate) {
			b.take(id)
		}
	}
	return err
}

// encodeBatch encodes as many of evs as fit in limit bytes (at least one)
// and says how many that is.
func encodeBatch(evs []*incidents.Event, limit int) ([]byte, int, error) {
	if len(evs) == 1 {
		body, err := json.Marshal(evs[0])
		return body, 1, err
	}
	for n := len(evs); ; n = (n + 1) / 2 {
		body, err := json.Marshal(Batch{Events: evs[:n]})
		if err != nil {
			return nil, 0, fmt.Errorf("bus: encode events: %w", err)
		}
		if len(body) <= limit || n == 1 {
			return body, n, nil
		}
	}
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
	f, err := b.publishAsync(ctx, CommandSubject(c.IncidentID), env.ID(), c.Origin, "", body)
	if err != nil {
		return err
	}
	_, err = wait(ctx, []jetstream.PubAckFuture{f})
	return err
}

func (b *Bus) publishAsync(ctx context.Context, subject, id, origin, delivery string, body []byte) (jetstream.PubAckFuture, error) {
	msg := nats.NewMsg(subject)
	msg.Data = body
	msg.Header.Set(jetstream.MsgIDHeader, id)
	if delivery != "" {
		msg.Header.Set(HeaderDelivery, delivery)
	}
	if origin != "" {
		msg.Header.Set(HeaderOrigin, origin)
	}
	f, err := b.pubJS.PublishMsgAsync(msg, jetstream.WithExpectStream(b.cfg.Stream))
	if err != nil {
		return nil, fmt.Errorf("bus: publish to %s: %w", subject, err)
	}
	return f, nil
}

// wait returns the acknowledgements of the futures, up to the first failure.
func wait(ctx context.Context, futures []jetstream.PubAckFuture) ([]*jetstream.PubAck, error) {
	acks := make([]*jetstream.PubAck, 0, len(futures))
	for _, f := range futures {
		select {
		case ack := <-f.Ok():
			acks = append(acks, ack)
		case err := <-f.Err():
			return acks, fmt.Errorf("bus: store %s: %w", f.Msg().Subject, err)
		case <-ctx.Done():
			return acks, fmt.Errorf("bus: store %s: %w", f.Msg().Subject, ctx.Err())
		}
	}
	return acks, nil
}
