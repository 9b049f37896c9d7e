package main

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

const (
	nbIMEI = "867723030005655"
	nbEUI  = "0e-86-77-23-03-00-05-65"
)

// startNBServer runs the gRPC server with DownstreamService and
// FleetService over bbolt on a loopback port; regs (nil: no CoAP server)
// stands for the CoAP server's registrations.
func startNBServer(t *testing.T, maxPending int, regs func() []lwm2m.Registration) (string, *outbox.Outbox) {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ob := outbox.New(db, outbox.Config{MaxPending: maxPending})
	g := server.NewGRPC(uplink.New(db, uplink.Config{}), server.Options{Fleet: fleet.New(db, fleet.Config{}), Outbox: ob, Registrations: regs})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Server.Serve(lis)
	t.Cleanup(g.Server.Stop) // runs before db.Close
	return lis.Addr().String(), ob
}

func TestNBIoTCommands(t *testing.T) {
	eui, _ := lora.ParseEUI64(nbEUI)
	regs := func() []lwm2m.Registration {
		return []lwm2m.Registration{{Endpoint: nbIMEI, EUI: eui, ID: "r1", Addr: "127.0.0.1:40000", Binding: "UQ", Observed: true,
			Registered: time.Unix(1700000000, 0), LastSeen: time.Unix(1700000010, 0), Expires: time.Unix(1700086400, 0)}}
	}
	addr, ob := startNBServer(t, 16, regs)

	// Collections.
	out := ok(t, addr, "collections", "create", "field", "--tag", "name=Field test")
	if f := row(t, out, "field"); f[len(f)-1] != "test" || !strings.Contains(out, "name=Field test") {
		t.Errorf("create:\n%s", out)
	}
	if id := path(t, okJSON(t, addr, "collections", "create"), "collection", "collection_id").(string); len(id) != 14 {
		t.Errorf("generated id %q", id)
	}
	out = ok(t, addr, "collections", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[1], "default ") {
		t.Errorf("list:\n%s", out)
	}

	// Provisioning: an IMEI (default mapping) and a named opaque endpoint.
	out = ok(t, addr, "endpoints", "provision", nbIMEI, "--collection", "field", "--tag", "site=north")
	if f := row(t, out, nbIMEI); f[1] != nbEUI || f[2] != "false" {
		t.Errorf("provision IMEI:\n%s", out)
	}
	m := okJSON(t, addr, "endpoints", "provision", "meter-7", "--eui", "00:16:c0:01:f0:00:00:07", "--opaque")
	if path(t, m, "endpoint", "deveui") != "00-16-c0-01-f0-00-00-07" || path(t, m, "endpoint", "opaque") != true {
		t.Errorf("provision meter-7: %v", m)
	}
	out = ok(t, addr, "endpoints", "list")
	if row(t, out, "meter-7")[2] != "true" || row(t, out, nbIMEI)[1] != nbEUI {
		t.Errorf("endpoints list:\n%s", out)
	}
	if out = ok(t, addr, "endpoints", "set", "meter-7", "--opaque=false"); row(t, out, "meter-7")[2] != "false" {
		t.Errorf("set:\n%s", out)
	}
	// DTLS pre-shared keys: shown as the identity, never as the key.
	const key = "000102030405060708090a0b0c0d0e0f"
	out = ok(t, addr, "endpoints", "set", "meter-7", "--psk", key)
	if f := row(t, out, "meter-7"); f[len(f)-1] != "meter-7" || strings.Contains(out, key) {
		t.Errorf("set --psk:\n%s", out)
	}
	m = okJSON(t, addr, "endpoints", "set", "meter-7", "--psk-identity", "m7")
	if path(t, m, "endpoint", "psk_identity") != "m7" || path(t, m, "endpoint", "psk_set") != true {
		t.Errorf("set --psk-identity: %v", m)
	}
	if out = ok(t, addr, "endpoints", "list"); strings.Contains(out, key) || row(t, out, "meter-7")[4] != "m7" || row(t, out, nbIMEI)[4] != "-" {
		t.Errorf("list with a key:\n%s", out)
	}
	if out = ok(t, addr, "endpoints", "set", "meter-7", "--clear-psk"); row(t, out, "meter-7")[4] != "-" {
		t.Errorf("set --clear-psk:\n%s", out)
	}
	m = okJSON(t, addr, "endpoints", "provision", "meter-8", "--eui", "0016c001f0000008", "--psk", key, "--psk-identity", "m8")
	if path(t, m, "endpoint", "psk_identity") != "m8" {
		t.Errorf("provision --psk: %v", m)
	}
	out = ok(t, addr, "endpoints", "registrations")
	if f := row(t, out, nbIMEI); f[1] != nbEUI || f[2] != "127.0.0.1:40000" || f[3] != "UQ" || f[4] != "true" {
		t.Errorf("registrations:\n%s", out)
	}
	if regsJSON := okJSON(t, addr, "endpoints", "registrations"); path(t, regsJSON, "registrations", 0, "registration_id") != "r1" {
		t.Errorf("registrations JSON: %v", regsJSON)
	}

	// Place a LoRaWAN device (not seen yet) in the collection.
	out = ok(t, addr, "collections", "place", "0016C001F000406E", "field", "--tag", "k=v")
	if f := row(t, out, testEUI); f[1] != "field" || f[len(f)-1] != "k=v" {
		t.Errorf("place:\n%s", out)
	}
	out = ok(t, addr, "collections", "devices", "field")
	if row(t, out, testEUI)[2] != "-" || row(t, out, nbEUI)[2] != nbIMEI || row(t, out, nbEUI)[3] != "true" {
		t.Errorf("devices:\n%s", out)
	}

	// Send to one device by IMEI (text) and by EUI (hex), then broadcast.
	out = ok(t, addr, "send", nbIMEI, "--port", "42", "--text", "hello", "--collection", "field")
	if f := row(t, out, "1"); f[1] != nbEUI || f[2] != "field" || f[3] != "pending" || f[4] != "42" || f[5] != "68656c6c6f" {
		t.Errorf("send text:\n%s", out)
	}
	m = okJSON(t, addr, "send", "00-16-c0-01-f0-00-40-6e", "--port", "1", "--hex", "0102")
	if path(t, m, "message", "payload") != "0102" || path(t, m, "message", "state") != "MESSAGE_STATE_PENDING" {
		t.Errorf("send hex: %v", m)
	}
	ok(t, addr, "send", testEUI, "--port", "2", "--hex", "")
	out = ok(t, addr, "broadcast", "field", "--port", "8", "--hex", "AA")
	if row(t, out, "sent:")[1] != "2" || row(t, out, "failed:")[1] != "0" || strings.Contains(out, "Errors") {
		t.Errorf("broadcast:\n%s", out)
	}

	// Outbox: list (bare and "list"), filter, delete, a sent message.
	if err := ob.MarkSent(t.Context(), eui, 1, outbox.TransportCoAP); err != nil {
		t.Fatal(err)
	}
	out = ok(t, addr, "outbox", nbIMEI)
	if row(t, out, "1")[3] != "sent" || row(t, out, "1")[8] != "coap" || row(t, out, "2")[5] != "aa" {
		t.Errorf("outbox:\n%s", out)
	}
	out = ok(t, addr, "outbox", "list", "--state", "pending", nbIMEI)
	if hasRow(out, "1") || !hasRow(out, "2") {
		t.Errorf("outbox --state pending:\n%s", out)
	}
	if out = ok(t, addr, "outbox", "delete", nbIMEI, "2"); !strings.Contains(out, "deleted message 2") {
		t.Errorf("delete:\n%s", out)
	}
	if m = okJSON(t, addr, "outbox", nbIMEI, "--state", "pending"); len(path(t, m, "messages").([]any)) != 0 {
		t.Errorf("pending after delete: %v", m)
	}
	if m = okJSON(t, addr, "outbox", testEUI); len(path(t, m, "messages").([]any)) != 3 || path(t, m, "messages", 1, "payload") != "" {
		t.Errorf("LoRaWAN outbox: %v", m)
	}

	// JSON output of the remaining commands.
	for _, args := range [][]string{
		{"endpoints", "list"},
		{"collections", "list"},
		{"collections", "devices", "field"},
		{"broadcast", "field", "--port", "9", "--text", "x"},
		{"outbox", "delete", testEUI, "4"},
		{"collections", "place", testEUI, "default", "--clear-tags"},
		{"endpoints", "delete", "meter-7"},
		{"collections", "delete", "field"},
	} {
		okJSON(t, addr, args...)
	}
	out = ok(t, addr, "collections", "devices", "default")
	if f := row(t, out, testEUI); f[1] != "default" || f[len(f)-1] != "-" {
		t.Errorf("after clear-tags and deleting field:\n%s", out)
	}
}

func TestNBIoTCommandErrors(t *testing.T) {
	addr, _ := startNBServer(t, 1, nil)
	ok(t, addr, "collections", "place", testEUI, "default")
	ok(t, addr, "collections", "create", "field")
	ok(t, addr, "collections", "place", otherEUI, "field")
	ok(t, addr, "send", otherEUI, "--port", "1", "--hex", "00") // fills its queue
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"no port", []string{"send", testEUI, "--hex", "00"}, 2, []string{"--port is required", "usage: mgsctl send DEVICE"}},
		{"no payload", []string{"send", testEUI, "--port", "1"}, 2, []string{"--hex HEX or --text S"}},
		{"hex and text", []string{"send", testEUI, "--port", "1", "--hex", "00", "--text", "a"}, 2, []string{"not both"}},
		{"bad hex", []string{"send", testEUI, "--port", "1", "--hex", "0g"}, 2, []string{"--hex: "}},
		{"no device", []string{"send", "--port", "1", "--hex", "00"}, 2, []string{"missing DEVICE"}},
		{"two devices", []string{"send", testEUI, otherEUI, "--port", "1", "--hex", "00"}, 2, []string{"unexpected argument"}},
		{"bad port", []string{"send", testEUI, "--port", "300", "--hex", "00"}, 1, []string{"mgsctl: InvalidArgument: port: "}},
		{"unknown device", []string{"send", "0102030405060708", "--port", "1", "--hex", "00"}, 1, []string{"mgsctl: NotFound: ", "unknown device"}},
		{"wrong collection", []string{"send", testEUI, "--collection", "field", "--port", "1", "--hex", "00"}, 1, []string{"NotFound", `not "field"`}},
		{"full queue", []string{"send", otherEUI, "--port", "1", "--hex", "00"}, 1, []string{"mgsctl: ResourceExhausted: ", "queue full"}},
		{"broadcast partly full", []string{"broadcast", "field", "--port", "1", "--hex", "00"}, 1, []string{"mgsctl: ", otherEUI, "queue full"}},
		{"broadcast unknown", []string{"broadcast", "nope", "--port", "1", "--hex", "00"}, 1, []string{"NotFound"}},
		{"bad state", []string{"outbox", testEUI, "--state", "done"}, 2, []string{`--state: "done"`}},
		{"delete bad id", []string{"outbox", "delete", testEUI, "x"}, 2, []string{`message ID "x"`}},
		{"delete missing id", []string{"outbox", "delete", testEUI}, 2, []string{"missing ID"}},
		{"delete unknown message", []string{"outbox", "delete", testEUI, "7"}, 1, []string{"NotFound"}},
		{"delete sent message", []string{"outbox", "delete", otherEUI, "1"}, 0, nil},
		{"outbox without device", []string{"outbox"}, 2, []string{"missing outbox command"}},
		{"set without opaque", []string{"endpoints", "set", "meter-7"}, 2, []string{"give --opaque=true|false, --psk"}},
		{"bad psk", []string{"endpoints", "provision", nbIMEI, "--psk", "xyz"}, 2, []string{"--psk: not hex"}},
		{"long psk", []string{"endpoints", "provision", nbIMEI, "--psk", strings.Repeat("00", 65)}, 2, []string{"--psk: must be 1..64 bytes"}},
		{"bad identity", []string{"endpoints", "provision", nbIMEI, "--psk", "00", "--psk-identity", "a	b"}, 2, []string{"--psk-identity: "}},
		{"identity without psk", []string{"endpoints", "provision", nbIMEI, "--psk-identity", "x"}, 2, []string{"--psk-identity needs --psk"}},
		{"clear and set", []string{"endpoints", "set", nbIMEI, "--clear-psk", "--psk", "00"}, 2, []string{"--clear-psk cannot be combined"}},
		{"set unknown", []string{"endpoints", "set", "meter-7", "--opaque=true"}, 1, []string{"NotFound"}},
		{"provision twice", []string{"endpoints", "provision", nbIMEI}, 0, nil},
		{"provision again", []string{"endpoints", "provision", nbIMEI}, 1, []string{"AlreadyExists"}},
		{"provision no EUI", []string{"endpoints", "provision", "meter-7"}, 1, []string{"InvalidArgument"}},
		{"bad tag", []string{"endpoints", "provision", "meter-7", "--tag", "x"}, 2, []string{`"x" is not key=value`}},
		{"no CoAP", []string{"endpoints", "registrations"}, 1, []string{"FailedPrecondition", "not enabled"}},
		{"delete default", []string{"collections", "delete", "default"}, 1, []string{"FailedPrecondition"}},
		{"create twice", []string{"collections", "create", "field"}, 1, []string{"AlreadyExists"}},
		{"place missing collection", []string{"collections", "place", testEUI}, 2, []string{"missing COLLECTION"}},
		{"devices unknown", []string{"collections", "devices", "nope"}, 1, []string{"NotFound"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mgsctl(t, addr, tc.args...)
			if r.code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tc.code, r.stdout, r.stderr)
			}
			for _, s := range tc.stderr {
				wantContains(t, "stderr", r.stderr, s)
			}
		})
	}
}

func TestNBIoTHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-h"}, []string{"send ", "broadcast ", "outbox ", "endpoints ", "collections "}},
		{[]string{"send", "-h"}, []string{"usage: mgsctl send DEVICE --port N", "-collection", "-text"}},
		{[]string{"help", "broadcast"}, []string{"usage: mgsctl broadcast COLLECTION"}},
		{[]string{"outbox", "-h"}, []string{"usage: mgsctl outbox <command>", "list ", "delete "}},
		{[]string{"outbox", "delete", "-h"}, []string{"usage: mgsctl outbox delete DEVICE ID"}},
		{[]string{"endpoints", "--help"}, []string{"provision ", "registrations "}},
		{[]string{"collections", "place", "-h"}, []string{"-clear-tags", "-tag"}},
	} {
		r := mgsctl(t, "127.0.0.1:1", tc.args...)
		if r.code != 0 {
			t.Errorf("%q: exit %d, stderr %s", tc.args, r.code, r.stderr)
		}
		for _, w := range tc.want {
			wantContains(t, strings.Join(tc.args, " "), r.stdout, w)
		}
	}
}
