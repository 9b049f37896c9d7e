package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/metrics"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// TestPipelineAndStoreMetrics feeds real uplinks through a pipeline over
// bbolt with the hooks wired as mgsd wires them, and reads the metrics
// back in the exposition format.
func TestPipelineAndStoreMetrics(t *testing.T) {
	m := metrics.New()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true, OnCommit: m.OnCommit})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := uplink.New(db, uplink.Config{Observer: m})
	eui := lora.EUI64FromUint64(1)
	ctx := context.Background()
	for i := range 3 {
		if _, err := p.Handle(ctx, eui, uplink.Message{Type: store.MsgUpdf, FCnt: uint32(i + 1), HasFCnt: true, Port: 199, HasPort: true,
			Payload: []byte{0x03, 0x19}}); err != nil {
			t.Fatal(err)
		}
	}
	p.Handle(ctx, eui, uplink.Message{Type: store.MsgUpdf, FCnt: 3, HasFCnt: true, Port: 199, HasPort: true, Payload: []byte{0x03, 0x19}})
	p.Handle(ctx, eui, uplink.Message{Type: store.MsgUpdf}) // invalid: no fcnt
	m.ObserveGRPC("/mgs.v1.ModemService/SendUplink", codes.OK, time.Millisecond)
	m.ObserveHTTP("/api/v1/uplink/send", 429, time.Millisecond)
	m.ObserveBackup(4096, nil)
	if err := m.GaugeFunc("uplinks_in_flight", "Uplinks being processed.", func() float64 { return float64(p.InFlight()) }); err != nil {
		t.Fatal(err)
	}
	if err := m.GaugeFunc("uplinks_in_flight", "again", func() float64 { return 0 }); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	if err := m.Connections(func() []metrics.Connection {
		return []metrics.Connection{{Type: "everynet", Name: "ns.example", Up: true, State: "connected", Connects: 2, Uplinks: 5,
			LastMessage: time.Unix(1700000000, 0)}}
	}); err != nil {
		t.Fatal(err)
	}
	out := scrape(t, m.Handler())
	for _, want := range []string{
		`mgs_uplinks_total{msgtype="updf",operation="modem",result="ok"} 3`,
		`mgs_uplinks_total{msgtype="updf",operation="modem",result="duplicate"} 1`,
		`mgs_uplinks_total{msgtype="unknown",operation="",result="invalid"} 1`,
		`mgs_uplink_duration_seconds_count{result="ok"} 3`,
		`mgs_uplink_stage_duration_seconds_count{stage="commit"} 3`,
		`mgs_uplink_stage_duration_seconds_count{stage="decode_dm"} 3`,
		`mgs_uplink_stage_duration_seconds_count{stage="load"} 4`,
		`mgs_uplink_attempts_count 4`,
		`mgs_store_commit_duration_seconds_count`,
		`mgs_store_commit_writes_bucket{le="1"}`,
		`mgs_grpc_requests_total{code="OK",method="/mgs.v1.ModemService/SendUplink"} 1`,
		`mgs_http_requests_total{code="429",route="/api/v1/uplink/send"} 1`,
		`mgs_backups_total{result="ok"} 1`,
		`mgs_backup_bytes_total 4096`,
		`mgs_uplinks_in_flight 0`,
		`mgs_connector_up{connection="ns.example",type="everynet"} 1`,
		`mgs_connector_state{connection="ns.example",state="connected",type="everynet"} 1`,
		`mgs_connector_connects_total{connection="ns.example",type="everynet"} 2`,
		`mgs_connector_uplinks_total{connection="ns.example",type="everynet"} 5`,
		`mgs_connector_last_message_timestamp_seconds{connection="ns.example",type="everynet"} 1.7e+09`,
		`go_goroutines `,
		`go_memstats_heap_alloc_bytes `,
		`go_build_info{`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// The store committed at least the three uplinks.
	if !strings.Contains(out, "mgs_store_commit_writes_sum") {
		t.Error("no commit batch sizes")
	}
	if t.Failed() {
		t.Log(out)
	}
}

// BenchmarkObserve is the metrics cost of one uplink: 13 stage timings,
// the outcome and one commit.
func BenchmarkObserve(b *testing.B) {
	m := metrics.New()
	stages := []string{"load", "route", "duplicate", "session", "decode_dm", "upload", "stream", "alc_sync", "protocols", "fulfil",
		"plan_downlink", "record", "commit"}
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range stages {
			m.StageDone(s, 3*time.Microsecond)
		}
		m.UplinkDone(uplink.Outcome{MsgType: "updf", Operation: "modem", Result: "ok", Attempts: 1, Duration: time.Millisecond})
		m.OnCommit(4, time.Millisecond)
	}
}

// BenchmarkObserveParallel is the same from every core at once.
func BenchmarkObserveParallel(b *testing.B) {
	m := metrics.New()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, s := range []string{"load", "route", "decode_dm", "record", "commit"} {
				m.StageDone(s, 3*time.Microsecond)
			}
			m.UplinkDone(uplink.Outcome{MsgType: "updf", Operation: "modem", Result: "ok", Attempts: 1, Duration: time.Millisecond})
		}
	})
}

// BenchmarkPipeline is one DM uplink through the pipeline over bbolt
// (no fsync), without and with the metrics observer and commit hook.
func BenchmarkPipeline(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		name := "plain"
		if withMetrics {
			name = "metrics"
		}
		b.Run(name, func(b *testing.B) {
			m := metrics.New()
			o := &boltstore.Options{NoSync: true}
			cfg := uplink.Config{}
			if withMetrics {
				o.OnCommit, cfg.Observer = m.OnCommit, m
			}
			db, err := boltstore.Open(filepath.Join(b.TempDir(), "mgs.db"), o)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			p := uplink.New(db, cfg)
			payload := []byte{0x00, 0x08, 0x01, 0x00, 0x00, 0x03, 0x19, 0x04, 0x0e, 0x1c, 0x05, 0x00, 0x00}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := p.Handle(context.Background(), lora.EUI64FromUint64(uint64(i%100)), uplink.Message{Type: store.MsgUpdf,
					FCnt: uint32(i), HasFCnt: true, Port: 199, HasPort: true, Payload: payload}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
