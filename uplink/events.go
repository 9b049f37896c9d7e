package uplink

import (
	"errors"
	"sync"

	"github.com/openmgs/openmgs/internal/lora"
)

// Event is one committed uplink and its response.
type Event struct {
	EUI    lora.EUI64
	Uplink Message
	Result *Result
	Time   float64
}

// ErrSlowSubscriber ends a subscription whose buffer overflowed: events are
// never silently skipped.
var ErrSlowSubscriber = errors.New("uplink: subscriber too slow, events buffer full")

// Broker fans events out to subscribers. Publish never blocks.
type Broker struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// NewBroker returns an empty broker.
func NewBroker() *Broker { return &Broker{subs: make(map[*Subscription]struct{})} }

// Subscription receives events on C until Close or overflow; Err tells why
// C was closed.
type Subscription struct {
	C <-chan Event

	b      *Broker
	ch     chan Event
	filter map[lora.EUI64]bool
	once   sync.Once
	err    error
}

// Subscribe returns a subscription to the given devices (all when none)
// with room for buffer pending events.
func (b *Broker) Subscribe(euis []lora.EUI64, buffer int) *Subscription {
	if buffer < 1 {
		buffer = 1
	}
	s := &Subscription{b: b, ch: make(chan Event, buffer)}
	s.C = s.ch
	if len(euis) > 0 {
		s.filter = make(map[lora.EUI64]bool, len(euis))
		for _, e := range euis {
			s.filter[e] = true
		}
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Subscribers returns the number of open subscriptions.
func (b *Broker) Subscribers() int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs)
}

// Publish delivers e to every matching subscriber.
func (b *Broker) Publish(e Event) {
	b.mu.RLock()
	var slow []*Subscription
	for s := range b.subs {
		if s.filter != nil && !s.filter[e.EUI] {
			continue
		}
		select {
		case s.ch <- e:
		default:
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range slow {
		s.close(ErrSlowSubscriber)
	}
}

// Close ends the subscription.
func (s *Subscription) Close() { s.close(nil) }

// Err is why the subscription ended (nil after Close).
func (s *Subscription) Err() error {
	s.b.mu.RLock()
	defer s.b.mu.RUnlock()
	return s.err
}

func (s *Subscription) close(err error) {
	s.once.Do(func() {
		s.b.mu.Lock()
		delete(s.b.subs, s)
		s.err = err
		close(s.ch)
		s.b.mu.Unlock()
	})
}
