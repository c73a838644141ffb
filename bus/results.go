package bus

import (
	"sync"

	"github.com/opsbot/opsbot/incidents"
)

// Results hands the reducer's outcomes to callers waiting for them, such as
// an API request that published a command and answers with what it did.
type Results struct {
	mu      sync.Mutex
	waiting map[string][]chan incidents.Outcome
}

// Expect registers interest in the outcome of the message with delivery id;
// call it before publishing, and cancel when done waiting.
func (r *Results) Expect(id string) (ch <-chan incidents.Outcome, cancel func()) {
	c := make(chan incidents.Outcome, 1)
	r.mu.Lock()
	if r.waiting == nil {
		r.waiting = map[string][]chan incidents.Outcome{}
	}
	r.waiting[id] = append(r.waiting[id], c)
	r.mu.Unlock()
	return c, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		list := r.waiting[id]
		for i, w := range list {
			if w == c {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(r.waiting, id)
		} else {
			r.waiting[id] = list
		}
	}
}

// Deliver passes outcomes to whoever waits for them.
func (r *Results) Deliver(out []incidents.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.waiting) == 0 {
		return
	}
	for _, o := range out {
		for _, c := range r.waiting[o.ID] {
			select {
			case c <- o:
			default:
			}
		}
	}
}
