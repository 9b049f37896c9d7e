package lwm2m

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/plgd-dev/go-coap/v3/message/codes"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/store"
)

// TableName is the store table of per-device LwM2M state: the notification
// counter and the current registration, keyed by EUI (8 bytes).
const TableName = "lwm2m"

// reg is a live registration. Fields are guarded by Server.mu; workers
// use copies.
type reg struct {
	EUI        lora.EUI64
	Endpoint   string
	ID         string
	Addr       *net.UDPAddr
	Binding    string
	Version    string
	Lifetime   time.Duration
	Links      []Link
	Registered time.Time
	Updated    time.Time
	LastSeen   time.Time
	Token      []byte
	Observed   bool
	Opaque     bool
	// DTLS registrations were made over coaps with PSKIdentity; only that
	// transport and identity may update them or send on them, and the
	// server reaches the device on conn, its latest DTLS session (nil
	// after a restart, until the device handshakes again).
	DTLS        bool
	PSKIdentity string
	conn        *udpClient.Conn

	mids midCache
	// observeWait receives the response code of the observe in progress.
	observeWait chan codes.Code
}

func (r *reg) queueMode() bool { return strings.Contains(r.Binding, "Q") }

func (r *reg) expires() time.Time { return r.Updated.Add(r.Lifetime) }

// snapshot copies the fields a worker needs.
func (r *reg) snapshot() reg {
	c := *r
	c.mids = midCache{}
	c.observeWait = nil
	c.Addr = &net.UDPAddr{IP: append(net.IP(nil), r.Addr.IP...), Port: r.Addr.Port, Zone: r.Addr.Zone}
	c.Token = append([]byte(nil), r.Token...)
	return c
}

// Registration is the public view of a registration.
type Registration struct {
	Endpoint   string
	EUI        lora.EUI64
	ID         string // Location-Path rd/<ID>
	Addr       string // latest source address of the device
	Binding    string
	Version    string
	Lifetime   time.Duration
	Objects    string // the registered link-format list
	Registered time.Time
	Updated    time.Time
	LastSeen   time.Time
	Expires    time.Time
	Observed   bool
	Opaque     bool
	// DTLS: registered over coaps, authenticated with PSKIdentity.
	DTLS        bool
	PSKIdentity string
}

func (r *reg) public() Registration {
	return Registration{Endpoint: r.Endpoint, EUI: r.EUI, ID: r.ID, Addr: r.Addr.String(), Binding: r.Binding, Version: r.Version,
		Lifetime: r.Lifetime, Objects: FormatLinks(r.Links), Registered: r.Registered, Updated: r.Updated, LastSeen: r.LastSeen,
		Expires: r.expires(), Observed: r.Observed, Opaque: r.Opaque, DTLS: r.DTLS, PSKIdentity: r.PSKIdentity}
}

// midCache remembers recent message IDs of a device for deduplication
// over EXCHANGE_LIFETIME (247 s).
type midCache struct {
	ids  [32]uint16
	at   [32]time.Time
	next int
}

const exchangeLifetime = 247 * time.Second

// seen reports whether mid was received within the exchange lifetime and
// remembers it otherwise.
func (c *midCache) seen(mid uint16, now time.Time) bool {
	for i := range c.ids {
		if c.ids[i] == mid && !c.at[i].IsZero() && now.Sub(c.at[i]) < exchangeLifetime {
			return true
		}
	}
	c.ids[c.next], c.at[c.next] = mid, now
	c.next = (c.next + 1) % len(c.ids)
	return false
}

// record is the stored per-device state.
type record struct {
	Endpoint string     `json:"endpoint"`
	FCnt     uint32     `json:"fcnt"` // next notification's frame counter
	Reg      *regRecord `json:"reg,omitempty"`
}

type regRecord struct {
	ID         string `json:"id"`
	Addr       string `json:"addr"`
	Binding    string `json:"b"`
	Version    string `json:"lwm2m,omitempty"`
	Lifetime   int64  `json:"lt"` // seconds
	Links      string `json:"links,omitempty"`
	Registered int64  `json:"registered"` // Unix ns
	Updated    int64  `json:"updated"`
	LastSeen   int64  `json:"last_seen"`
	Token      []byte `json:"token"`
	Observed   bool   `json:"observed,omitempty"`
	Opaque     bool   `json:"opaque,omitempty"`
	DTLS       bool   `json:"dtls,omitempty"`
	Identity   string `json:"psk_identity,omitempty"`
}

func toRecord(r *reg) *regRecord {
	return &regRecord{ID: r.ID, Addr: r.Addr.String(), Binding: r.Binding, Version: r.Version, Lifetime: int64(r.Lifetime / time.Second),
		Links: FormatLinks(r.Links), Registered: r.Registered.UnixNano(), Updated: r.Updated.UnixNano(), LastSeen: r.LastSeen.UnixNano(),
		Token: r.Token, Observed: r.Observed, Opaque: r.Opaque, DTLS: r.DTLS, Identity: r.PSKIdentity}
}

func fromRecord(eui lora.EUI64, endpoint string, rr *regRecord) (*reg, error) {
	addr, err := net.ResolveUDPAddr("udp", rr.Addr)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", rr.Addr, err)
	}
	links, err := ParseLinks([]byte(rr.Links))
	if err != nil {
		return nil, err
	}
	return &reg{EUI: eui, Endpoint: endpoint, ID: rr.ID, Addr: addr, Binding: rr.Binding, Version: rr.Version,
		Lifetime: time.Duration(rr.Lifetime) * time.Second, Links: links, Registered: time.Unix(0, rr.Registered),
		Updated: time.Unix(0, rr.Updated), LastSeen: time.Unix(0, rr.LastSeen), Token: rr.Token, Observed: rr.Observed, Opaque: rr.Opaque,
		DTLS: rr.DTLS, PSKIdentity: rr.Identity}, nil
}

// update applies fn to the stored record of eui with compare-and-swap.
func (s *Server) update(ctx context.Context, eui lora.EUI64, fn func(*record)) (record, error) {
	for range store.MaxUpdateAttempts {
		var rec record
		b, rev, err := s.tbl.Get(ctx, eui[:])
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return record{}, err
		default:
			if err := json.Unmarshal(b, &rec); err != nil {
				return record{}, fmt.Errorf("lwm2m: record of %s: %w", eui, err)
			}
		}
		fn(&rec)
		nb, err := json.Marshal(rec)
		if err != nil {
			return record{}, err
		}
		if _, err := s.tbl.CompareAndSwap(ctx, eui[:], rev, nb); errors.Is(err, store.ErrConflict) {
			continue
		} else if err != nil {
			return record{}, err
		}
		return rec, nil
	}
	return record{}, fmt.Errorf("lwm2m: update %s: %w", eui, store.ErrConflict)
}

// load restores unexpired registrations after a restart.
func (s *Server) load(ctx context.Context) error {
	now := s.cfg.Now()
	var expired []lora.EUI64
	err := s.tbl.Range(ctx, nil, func(k, v []byte, _ uint64) error {
		if len(k) != 8 {
			return nil
		}
		eui := lora.EUI64(k)
		var rec record
		if err := json.Unmarshal(v, &rec); err != nil {
			s.log.Warn("lwm2m: unreadable registration record", "dev_eui", eui, "err", err)
			return nil
		}
		if rec.Reg == nil {
			return nil
		}
		r, err := fromRecord(eui, rec.Endpoint, rec.Reg)
		if err != nil {
			s.log.Warn("lwm2m: unreadable registration record", "dev_eui", eui, "err", err)
			expired = append(expired, eui)
			return nil
		}
		if !now.Before(r.expires()) {
			expired = append(expired, eui)
			return nil
		}
		s.mu.Lock()
		s.add(r)
		s.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	for _, eui := range expired {
		if _, err := s.update(ctx, eui, func(rec *record) { rec.Reg = nil }); err != nil {
			return err
		}
	}
	return nil
}

// add indexes r, replacing any registration of the same device. s.mu held.
func (s *Server) add(r *reg) {
	if old := s.byEUI[r.EUI]; old != nil {
		s.remove(old)
	}
	s.byEUI[r.EUI] = r
	s.byID[r.ID] = r
	s.byToken[string(r.Token)] = r
}

// remove drops r from the indexes. s.mu held.
func (s *Server) remove(r *reg) {
	if s.byEUI[r.EUI] == r {
		delete(s.byEUI, r.EUI)
	}
	if s.byID[r.ID] == r {
		delete(s.byID, r.ID)
	}
	if s.byToken[string(r.Token)] == r {
		delete(s.byToken, string(r.Token))
	}
}

func randomToken() []byte {
	b := make([]byte, 8)
	rand.Read(b)
	return b
}

// newIDs returns a registration id and an observe token not in use.
// s.mu held.
func (s *Server) newIDs() (string, []byte) {
	const alphabet = "0123456789abcdefghijklmnopqrstuv"
	for {
		b := make([]byte, 10)
		rand.Read(b)
		for i := range b {
			b[i] = alphabet[b[i]&31]
		}
		tok := randomToken()
		if s.byID[string(b)] == nil && s.byToken[string(tok)] == nil {
			return string(b), tok
		}
	}
}
