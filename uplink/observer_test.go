package uplink_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// recorder is an uplink.Observer that keeps what it was told.
type recorder struct {
	mu       sync.Mutex
	stages   map[string]int
	outcomes []uplink.Outcome
}

func (r *recorder) StageDone(stage string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d < 0 {
		panic("negative duration")
	}
	r.stages[stage]++
}

func (r *recorder) UplinkDone(o uplink.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outcomes = append(r.outcomes, o)
}

type ctxKey struct{}

// ctxHandler adds the context value under ctxKey as "request_id".
type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if v, ok := ctx.Value(ctxKey{}).(string); ok {
		r.AddAttrs(slog.String("request_id", v))
	}
	return h.Handler.Handle(ctx, r)
}

func TestObserverAndContextLogging(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := &recorder{stages: map[string]int{}}
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(ctxHandler{slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug})})
	p := uplink.New(db, uplink.Config{Observer: rec, Logger: log})
	ctx := context.WithValue(context.Background(), ctxKey{}, "req-42")

	if _, err := p.Handle(ctx, dev, dm(1, firstReport)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Handle(ctx, dev, dm(1, firstReport)); err != nil { // duplicate
		t.Fatal(err)
	}
	if _, err := p.Handle(ctx, dev, uplink.Message{Type: store.MsgUpdf}); err == nil { // no fcnt
		t.Fatal("invalid uplink accepted")
	}
	if p.InFlight() != 0 {
		t.Fatalf("InFlight = %d after all calls returned", p.InFlight())
	}
	want := []uplink.Outcome{
		{MsgType: "updf", Operation: uplink.OpModem, Result: uplink.ResultOK, Attempts: 1},
		{MsgType: "updf", Operation: uplink.OpModem, Result: uplink.ResultDuplicate, Attempts: 1},
		{MsgType: "unknown", Result: uplink.ResultInvalid},
	}
	if len(rec.outcomes) != len(want) {
		t.Fatalf("outcomes %+v", rec.outcomes)
	}
	for i, o := range rec.outcomes {
		if o.Duration <= 0 {
			t.Errorf("outcome %d: duration %v", i, o.Duration)
		}
		o.Duration = 0
		if o != want[i] {
			t.Errorf("outcome %d = %+v, want %+v", i, o, want[i])
		}
	}
	// Every default stage ran for the first uplink; the duplicate stopped
	// after "duplicate"; the commit ran once.
	for _, st := range p.DefaultStages() {
		n := rec.stages[st.Name]
		if min := 1; n < min {
			t.Errorf("stage %s reported %d times", st.Name, n)
		}
	}
	if rec.stages["load"] != 2 || rec.stages["commit"] != 1 || rec.stages["route"] != 2 || rec.stages["record"] != 1 {
		t.Errorf("stage counts %v", rec.stages)
	}
	// The uplink log lines carry the context's request id and the uplink's identity.
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, "msg=uplink ") {
			continue
		}
		n++
		for _, want := range []string{"request_id=req-42", "dev_eui=0016c001f000406e", "msgtype=updf", "fcnt=1"} {
			if !strings.Contains(line, want) {
				t.Errorf("log line %q lacks %q", line, want)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d uplink log lines, want 2:\n%s", n, logs.String())
	}
}

func TestObserverSeesConflictRetries(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := &recorder{stages: map[string]int{}}
	p := uplink.New(db, uplink.Config{Observer: rec, MaxAttempts: 1000})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Handle(context.Background(), dev, dm(uint32(i+1), firstReport)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	attempts := 0
	for _, o := range rec.outcomes {
		attempts += o.Attempts
	}
	if len(rec.outcomes) != 8 || rec.stages["commit"] != attempts || rec.stages["load"] != attempts {
		t.Fatalf("%d outcomes, %d attempts, stages %v", len(rec.outcomes), attempts, rec.stages)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
