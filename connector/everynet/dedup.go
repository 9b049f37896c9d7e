package everynet

import "sync"

// dedup remembers the most recent message keys (type and packet_hash) in
// arrival order; the oldest is forgotten first once it is full.
type dedup struct {
	mu   sync.Mutex
	seen map[string]int // key → its ring slot
	ring []string
	next int
}

func newDedup(size int) *dedup {
	return &dedup{seen: make(map[string]int, size), ring: make([]string, size)}
}

// add records key and reports whether it is new.
func (d *dedup) add(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[key]; ok {
		return false
	}
	// The slot's old key is forgotten unless it was forgotten and added
	// again since (it then owns another slot).
	if slot, ok := d.seen[d.ring[d.next]]; ok && slot == d.next {
		delete(d.seen, d.ring[d.next])
	}
	d.ring[d.next] = key
	d.seen[key] = d.next
	d.next = (d.next + 1) % len(d.ring)
	return true
}

// forget removes key so that a replay can deliver it again (its processing
// failed). Its ring slot stays used until overwritten.
func (d *dedup) forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, key)
}

func (d *dedup) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}
