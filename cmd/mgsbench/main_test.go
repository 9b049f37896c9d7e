package main

import (
	"context"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// TestBenchModes runs every mode briefly against an in-process server and
// checks that uplinks were processed without errors.
func TestBenchModes(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Server.Serve(lis)
	defer g.Server.Stop()
	api, err := httpapi.New(httpapi.Options{Modem: g.Modem})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(api)
	defer hs.Close()
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, mode := range []string{"echo", "unary", "batch", "http"} {
		r, err := bench(context.Background(), cc, options{addr: lis.Addr().String(), httpAddr: strings.TrimPrefix(hs.URL, "http://"), mode: mode, devices: 20, concurrency: 4, batch: 8,
			duration: 200 * time.Millisecond, payload: "0319", firstEUI: 1})
		if err != nil || r.Errors != 0 || r.Calls == 0 || (mode != "echo" && r.Uplinks == 0) {
			t.Fatalf("%s: %+v, %v", mode, r, err)
		}
		if !strings.Contains(r.String(), "uplinks/s=") {
			t.Fatalf("report %q", r)
		}
	}
}
