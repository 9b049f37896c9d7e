package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// TestSolverAndLwM2MMetrics: a Wi-Fi uplink with unknown access points is
// counted as a failed wifi solve, and the LwM2M session state is exported.
func TestSolverAndLwM2MMetrics(t *testing.T) {
	addrs, stop := startMgsd(t, t.TempDir())
	defer stop()
	c := dial(t, addrs["grpc"])
	// Format 0x01: two (RSSI, MAC) pairs of globally administered MACs.
	if _, err := c.SendUplink(context.Background(), &mgsv1.SendUplinkRequest{Deveui: devEUI,
		Uplink: &mgsv1.UplinkMsg{Fcnt: u32(1), Port: u32(197), Payload: "01c4001122334455c6001122334466"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addrs["http"] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	body := string(b)
	for _, want := range []string{
		`mgs_solver_runs_total{result="failed",solver="wifi"} 1`,
		`mgs_solver_duration_seconds_count{solver="wifi"} 1`,
		"mgs_lwm2m_registrations 0",
		"mgs_lwm2m_notifications_total 0",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
