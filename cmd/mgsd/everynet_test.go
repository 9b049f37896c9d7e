package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// TestEverynetWiring starts mgsd with --everynet-url pointing at a minimal
// fake network server that sends one DM uplink, and finds the device state
// it produced through the gRPC API.
func TestEverynetWiring(t *testing.T) {
	gotToken := make(chan string, 1)
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case gotToken <- r.URL.Query().Get("access_token"):
		default:
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		tm := float64(time.Now().Unix())
		_ = c.WriteJSON(map[string]any{"type": "uplink",
			"meta": map[string]any{"network": "n", "packet_hash": "h1", "application": "a", "device_addr": "36c365b4",
				"time": tm, "device": "0016c001f000406e", "packet_id": "p1", "gateway": "g"},
			"params": map[string]any{"rx_time": tm, "port": 199, "counter_up": 7, "duplicate": false,
				"payload": base64.StdEncoding.EncodeToString([]byte{0x03, 0x19}),
				"radio": map[string]any{"freq": 868.1, "datarate": 0, "time": tm,
					"modulation": map[string]any{"bandwidth": 125000, "type": "LORA", "spreading": 7, "coderate": "4/5"},
					"hardware":   map[string]any{"status": 1, "chain": 0, "tmst": 1, "snr": 5.0, "rssi": -100.0, "channel": 0}}}})
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1.0/data"
	addr, stop := startServer(t, "--data", t.TempDir(), "--http-addr", "", "--everynet-url", wsURL, "--everynet-token", "tok")
	defer stop()
	if tok := <-gotToken; tok != "tok" {
		t.Fatalf("access_token %q", tok)
	}
	c := dial(t, addr)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := c.GetDeviceInfo(context.Background(), &mgsv1.GetDeviceInfoRequest{Deveuis: []string{devEUI}})
		if err != nil {
			t.Fatal(err)
		}
		if info := r.Results[0].Info; info != nil {
			if info.InfoFields.Temp.GetValue() != 25 || info.LastUplink.GetFcnt() != 7 {
				t.Fatalf("device from Everynet uplink: %v", info)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the Everynet uplink never reached the pipeline")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEverynetConfig(t *testing.T) {
	getenv := func(string) string { return "" }
	if _, err := parseConfig([]string{"--everynet-token", "x"}, getenv, nil); err == nil || !strings.Contains(err.Error(), "everynet-token") {
		t.Fatalf("token without URL: %v", err)
	}
	c, err := parseConfig([]string{"--everynet-url", "wss://a.example/api/v1.0/data,wss://a.example/api/v1.0/data", "--everynet-token", "t"}, getenv, nil)
	if err != nil || len(c.Everynet) != 2 || c.Everynet[1].Name == c.Everynet[0].Name || c.Everynet[1].Token != "t" {
		t.Fatalf("two connections: %+v, %v", c, err)
	}
	if _, err := parseConfig([]string{"--everynet-url", "wss://a/x,wss://b/x", "--everynet-token", "1,2,3"}, getenv, nil); err == nil {
		t.Fatal("3 tokens for 2 URLs accepted")
	}
}

// TestEverynetMetrics: the connection's state is exported as metrics.
func TestEverynetMetrics(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1.0/data"
	addrs, stop := startWith(t, nil, nil, "--data", t.TempDir(), "--http-addr", "", "--ops-addr", "127.0.0.1:0",
		"--everynet-url", wsURL, "--everynet-token", "tok", "--log-level", "error")
	defer stop()
	host := strings.TrimPrefix(srv.URL, "http://")
	want := `mgs_connector_up{connection="` + host + `",type="everynet"} 1`
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, _, body := get(t, "GET", "http://"+addrs["ops"]+"/metrics", "", "")
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		if strings.Contains(body, want) && strings.Contains(body, `mgs_connector_state{connection="`+host+`",state="connected",type="everynet"} 1`) &&
			strings.Contains(body, `mgs_connector_connects_total{connection="`+host+`",type="everynet"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q:\n%s", want, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
