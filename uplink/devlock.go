package uplink

import (
	"sync"

	"github.com/openmgs/openmgs/internal/lora"
)

// deviceLocks serialises the uplinks of one device within this process.
// Compare-and-swap alone keeps concurrent uplinks correct, but under many
// concurrent uplinks for one device it retries in a storm and the order of
// processing is arbitrary; the lock makes one device's uplinks run one
// after another, in arrival order, while different devices run in
// parallel. CAS still protects against writers in other processes.
type deviceLocks struct {
	mu    sync.Mutex
	locks map[lora.EUI64]*deviceLock
}

type deviceLock struct {
	mu   sync.Mutex
	refs int
}

func (l *deviceLocks) lock(eui lora.EUI64) func() {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = make(map[lora.EUI64]*deviceLock)
	}
	dl := l.locks[eui]
	if dl == nil {
		dl = &deviceLock{}
		l.locks[eui] = dl
	}
	dl.refs++
	l.mu.Unlock()
	dl.mu.Lock()
	return func() {
		dl.mu.Unlock()
		l.mu.Lock()
		if dl.refs--; dl.refs == 0 {
			delete(l.locks, eui)
		}
		l.mu.Unlock()
	}
}
