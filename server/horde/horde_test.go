package horde_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/outbox"
	"github.com/openmgs/openmgs/server/horde"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

type env struct {
	t     *testing.T
	srv   *httptest.Server
	fleet *fleet.Fleet
	ob    *outbox.Outbox
	db    store.Store
}

const token = "secret"

func newEnv(t *testing.T, obCfg outbox.Config) *env {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "db"), &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &env{t: t, fleet: fleet.New(db, fleet.Config{}), ob: outbox.New(db, obCfg), db: db}
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-API-Token") != token {
				http.Error(w, `{"status":401,"message":"token required"}`, http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	h, err := horde.New(horde.Options{Fleet: e.fleet, Outbox: e.ob, Wrap: auth, MaxBody: 1024})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// call sends a request and decodes a JSON answer into out (when non-nil).
func (e *env) call(method, path, body string, out any) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("X-API-Token", token)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %s is not JSON: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, string(b)
}

// want checks a status and, for errors, the JSON shape and message.
func (e *env) want(method, path, body string, status int, msg string) {
	e.t.Helper()
	var eb struct {
		Status  int    `json:"status"`
		Message string `json:"message"`
	}
	code, raw := e.call(method, path, body, nil)
	if code != status {
		e.t.Errorf("%s %s %s: status %d (%s), want %d", method, path, body, code, raw, status)
		return
	}
	if status >= 400 {
		if err := json.Unmarshal([]byte(raw), &eb); err != nil || eb.Status != status || !strings.Contains(eb.Message, msg) {
			e.t.Errorf("%s %s: error body %s, want status %d and %q", method, path, raw, status, msg)
		}
	}
}

var (
	loraDev = lora.MustParseEUI64("0016c001f000406e")
	imei    = "867723030005655"
	nbDev   = lora.MustParseEUI64("0e86772303000565")
)

// seed makes loraDev known (it sent an uplink) and provisions imei.
func (e *env) seed() {
	e.t.Helper()
	if err := store.NewDevices(e.db).Commit(context.Background(), &store.Device{EUI: loraDev}); err != nil {
		e.t.Fatal(err)
	}
	if code, raw := e.call("POST", "/collections/default/devices", `{"imei":"`+imei+`","tags":{"name":"tracker"}}`, nil); code != 201 {
		e.t.Fatalf("provision: %d %s", code, raw)
	}
}

type message struct {
	MessageID    string `json:"messageId"`
	CollectionID string `json:"collectionId"`
	DeviceID     string `json:"deviceId"`
	CreatedTime  int64  `json:"createdTime"`
	State        string `json:"state"`
	Port         int    `json:"port"`
	Payload      string `json:"payload"`
}

func TestSendToDevice(t *testing.T) {
	e := newEnv(t, outbox.Config{MaxPending: 4})
	e.seed()
	body := `{"port":8,"payload":"QSB0ZXN0IG1lc3NhZ2U="}` // "A test message" (seed 000)
	for _, did := range []string{"0016c001f000406e", "00-16-C0-01-F0-00-40-6E", "00:16:c0:01:f0:00:40:6e", "0x0016C001F000406E"} {
		e.want("POST", "/collections/default/devices/"+did+"/to", body, http.StatusNoContent, "")
	}
	e.want("POST", "/collections/default/devices/"+did(loraDev)+"/to", body, http.StatusConflict, "queue full")
	for _, did := range []string{imei, "urn:imei:" + imei, "0e86772303000565"} {
		e.want("POST", "/collections/default/devices/"+did+"/to", `{"port":1,"payload":""}`, http.StatusNoContent, "")
	}
	var list struct {
		Messages []message `json:"messages"`
	}
	if code, raw := e.call("GET", "/collections/default/devices/"+imei+"/outbox", "", &list); code != 200 {
		t.Fatalf("outbox: %d %s", code, raw)
	}
	if len(list.Messages) != 3 || list.Messages[0].MessageID != "1" || list.Messages[0].DeviceID != nbDev.Hex() ||
		list.Messages[0].State != "pending" || list.Messages[0].CollectionID != "default" || list.Messages[0].CreatedTime == 0 {
		t.Fatalf("outbox %+v", list.Messages)
	}
	msgs, _ := e.ob.List(context.Background(), loraDev)
	if len(msgs) != 4 || string(msgs[0].Payload) != "A test message" || msgs[0].Port != 8 {
		t.Fatalf("queued %+v", msgs)
	}

	// Bad input.
	p := "/collections/default/devices/" + imei + "/to"
	for _, tc := range []struct{ body, msg string }{
		{`{"port":1,"payload":"!!!"}`, "base64"},
		{`{"payload":"AA=="}`, "port is required"},
		{`{"port":1}`, "payload is required"},
		{`{"port":0,"payload":"AA=="}`, "outside 1..223"},
		{`{"port":8888,"payload":"AA=="}`, "outside 1..223"},
		{`{"port":"1","payload":"AA=="}`, "not valid JSON"},
		{`{"port":1,"payload":"AA==","coapPath":"/3/0/0"}`, "coapPath"},
		{`not json`, "not valid JSON"},
		{``, "needs a JSON body"},
	} {
		e.want("POST", p, tc.body, http.StatusBadRequest, tc.msg)
	}
	e.want("POST", p, `{"port":1,"payload":"`+strings.Repeat("A", 2000)+`"}`, http.StatusRequestEntityTooLarge, "over 1024")
	e.want("POST", p, `{"port":1,"payload":"`+strings.Repeat("AAAA", 200)+`"}`, http.StatusBadRequest, "600 bytes is more than 511")
	e.want("POST", "/collections/nope/devices/"+imei+"/to", `{"port":1,"payload":"AA=="}`, http.StatusNotFound, "unknown collection")
	e.want("POST", "/collections/default/devices/0016c001f0000000/to", `{"port":1,"payload":"AA=="}`, http.StatusNotFound, "unknown device")
	e.want("POST", "/collections/default/devices/sensor-9/to", `{"port":1,"payload":"AA=="}`, http.StatusNotFound, "neither an EUI-64")
	// Raw (unpadded) base64 is accepted.
	e.want("POST", "/collections/default/devices/"+imei+"/to", `{"port":1,"payload":"QQ"}`, http.StatusNoContent, "")
	if m, _ := e.ob.Get(context.Background(), nbDev, 4); string(m.Payload) != "A" {
		t.Fatalf("raw base64 payload %q", m.Payload)
	}
	e.want("POST", "/collections/default/devices/"+imei+"/to", `{"port":1,"payload":"QQ"}`, http.StatusConflict, "queue full")

	// A device of another collection is not found in this one.
	e.want("POST", "/collections", `{"collectionId":"field"}`, http.StatusCreated, "")
	e.want("PATCH", "/collections/default/devices/"+imei, `{"collectionId":"field"}`, http.StatusOK, "")
	e.want("POST", "/collections/default/devices/"+imei+"/to", `{"port":1,"payload":"AA=="}`, http.StatusNotFound, `in collection "field"`)
	e.want("GET", "/collections/field/devices/"+imei+"/outbox", "", http.StatusOK, "")
}

func did(e lora.EUI64) string { return e.Hex() }

func TestOutbox(t *testing.T) {
	e := newEnv(t, outbox.Config{})
	e.seed()
	p := "/collections/default/devices/" + imei
	for range 3 {
		e.want("POST", p+"/to", `{"port":5,"payload":"AQI="}`, http.StatusNoContent, "")
	}
	ctx := context.Background()
	if err := e.ob.MarkSent(ctx, nbDev, 1, outbox.TransportCoAP); err != nil {
		t.Fatal(err)
	}
	if err := e.ob.MarkFailed(ctx, nbDev, 2, outbox.TransportCoAP, "device answered 4.04"); err != nil {
		t.Fatal(err)
	}
	states := func(q string) []string {
		var list struct {
			Messages []message `json:"messages"`
		}
		if code, raw := e.call("GET", p+"/outbox"+q, "", &list); code != 200 {
			t.Fatalf("outbox%s: %d %s", q, code, raw)
		}
		var out []string
		for _, m := range list.Messages {
			out = append(out, m.MessageID+":"+m.State)
		}
		return out
	}
	if diff := cmp.Diff([]string{"1:sent", "2:failed", "3:pending"}, states("")); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"3:pending"}, states("?state=pending")); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	e.want("GET", p+"/outbox?state=queued", "", http.StatusBadRequest, "not pending, sent or failed")
	var m message
	if code, _ := e.call("GET", p+"/outbox/3", "", &m); code != 200 || m.Payload != "AQI=" || m.Port != 5 {
		t.Fatalf("message %+v", m)
	}
	e.want("DELETE", p+"/outbox/1", "", http.StatusConflict, "not pending")
	e.want("DELETE", p+"/outbox/99", "", http.StatusNotFound, "not found")
	e.want("DELETE", p+"/outbox/abc", "", http.StatusNotFound, "not found")
	e.want("DELETE", p+"/outbox/3", "", http.StatusNoContent, "")
	e.want("GET", p+"/outbox/3", "", http.StatusNotFound, "not found")
	if diff := cmp.Diff([]string{"1:sent", "2:failed"}, states("")); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestBroadcast(t *testing.T) {
	e := newEnv(t, outbox.Config{MaxPending: 1})
	e.seed()
	other := lora.MustParseEUI64("0016c001f0000002")
	e.want("POST", "/collections/default/devices", `{"deviceId":"00-16-c0-01-f0-00-00-02"}`, http.StatusCreated, "")
	// Fill one queue so that its device fails.
	e.want("POST", "/collections/default/devices/"+imei+"/to", `{"port":1,"payload":"AA=="}`, http.StatusNoContent, "")
	var res struct {
		Sent   int `json:"sent"`
		Failed int `json:"failed"`
		Errors []struct {
			DeviceID string `json:"deviceId"`
			Message  string `json:"message"`
		} `json:"errors"`
	}
	if code, raw := e.call("POST", "/collections/default/to", `{"port":2,"payload":"Ag=="}`, &res); code != 200 {
		t.Fatalf("broadcast: %d %s", code, raw)
	}
	if res.Sent != 2 || res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].DeviceID != nbDev.Hex() ||
		!strings.Contains(res.Errors[0].Message, "queue full") {
		t.Fatalf("broadcast %+v", res)
	}
	for _, d := range []lora.EUI64{loraDev, other} {
		if m, ok, _ := e.ob.Next(context.Background(), d); !ok || m.Port != 2 {
			t.Fatalf("%s: %+v %v", d, m, ok)
		}
	}
	// The singular spelling of the blog; an empty collection; bad input.
	e.want("POST", "/collections", `{"collectionId":"empty"}`, http.StatusCreated, "")
	if code, raw := e.call("POST", "/collection/empty/to", `{"port":2,"payload":"Ag=="}`, &res); code != 200 || res.Sent != 0 || res.Failed != 0 {
		t.Fatalf("empty broadcast: %d %s", code, raw)
	}
	if !strings.Contains(func() string {
		_, raw := e.call("POST", "/collection/empty/to", `{"port":2,"payload":"Ag=="}`, nil)
		return raw
	}(), `"errors":[]`) {
		t.Fatal("errors must be [] when empty")
	}
	e.want("POST", "/collections/nope/to", `{"port":2,"payload":"Ag=="}`, http.StatusNotFound, "unknown collection")
	e.want("POST", "/collections/default/to", `{"port":2,"payload":"%%"}`, http.StatusBadRequest, "base64")
}

func TestCollectionsAndDevices(t *testing.T) {
	e := newEnv(t, outbox.Config{})
	e.seed()
	var col struct {
		CollectionID string            `json:"collectionId"`
		Tags         map[string]string `json:"tags"`
	}
	if code, _ := e.call("POST", "/collections", `{"tags":{"name":"Field test"}}`, &col); code != 201 || len(col.CollectionID) != 14 || col.Tags["name"] != "Field test" {
		t.Fatalf("create %+v", col)
	}
	cid := col.CollectionID
	e.want("POST", "/collections", `{"collectionId":"`+cid+`"}`, http.StatusConflict, "already exists")
	e.want("POST", "/collections", `{"collectionId":"default"}`, http.StatusConflict, "already exists")
	e.want("POST", "/collections", `{"collectionId":"bad id"}`, http.StatusBadRequest, "collection id")
	e.want("PATCH", "/collections/"+cid, `{"tags":{"name":"Renamed"}}`, http.StatusOK, "")
	if code, _ := e.call("GET", "/collections/"+cid, "", &col); code != 200 || col.Tags["name"] != "Renamed" {
		t.Fatalf("get %+v", col)
	}
	var cols struct {
		Collections []struct {
			CollectionID string `json:"collectionId"`
		} `json:"collections"`
	}
	if e.call("GET", "/collections", "", &cols); len(cols.Collections) != 2 || cols.Collections[0].CollectionID != "default" {
		t.Fatalf("list %+v", cols)
	}

	type device struct {
		DeviceID     string            `json:"deviceId"`
		CollectionID string            `json:"collectionId"`
		EUI          string            `json:"eui"`
		IMEI         string            `json:"imei"`
		Provisioned  bool              `json:"provisioned"`
		Opaque       bool              `json:"opaque"`
		Tags         map[string]string `json:"tags"`
	}
	var d device
	if code, raw := e.call("POST", "/collections/"+cid+"/devices", `{"imei":"866971030001361","deviceId":"0016c001f0000099","opaque":true}`, &d); code != 201 {
		t.Fatalf("provision: %d %s", code, raw)
	}
	want := device{DeviceID: "0016c001f0000099", CollectionID: cid, EUI: "00-16-c0-01-f0-00-00-99", IMEI: "866971030001361", Provisioned: true, Opaque: true, Tags: map[string]string{}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Fatalf("provisioned device (-want +got):\n%s", diff)
	}
	for _, tc := range []struct{ body, msg string }{
		{`{"imei":"866971030001361"}`, "already exists"},
		{`{"imei":"86697103000136"}`, "imei"},
		{`{}`, "give imei or endpoint"},
		{`{"deviceId":"xyz"}`, "not an EUI-64"},
		{`{"deviceId":"0016c001f0000001","opaque":true}`, "opaque applies"},
		{`{"endpoint":"a/b","deviceId":"0016c001f0000001"}`, "endpoint name"},
	} {
		code := http.StatusBadRequest
		if tc.msg == "already exists" {
			code = http.StatusConflict
		}
		e.want("POST", "/collections/"+cid+"/devices", tc.body, code, tc.msg)
	}
	var devs struct {
		Devices []device `json:"devices"`
	}
	if e.call("GET", "/collections/default/devices", "", &devs); len(devs.Devices) != 2 {
		t.Fatalf("default members %+v", devs)
	}
	if e.call("GET", "/collections/"+cid+"/devices", "", &devs); len(devs.Devices) != 1 || devs.Devices[0].IMEI != "866971030001361" {
		t.Fatalf("collection members %+v", devs)
	}
	// PATCH: tags, opaque, move; then delete.
	if code, _ := e.call("PATCH", "/collections/"+cid+"/devices/866971030001361", `{"tags":{"name":"x"},"opaque":false}`, &d); code != 200 || d.Opaque || d.Tags["name"] != "x" {
		t.Fatalf("patch %+v", d)
	}
	e.want("PATCH", "/collections/default/devices/"+did(loraDev), `{"opaque":true}`, http.StatusBadRequest, "opaque applies")
	e.want("PATCH", "/collections/default/devices/"+did(loraDev), `{"collectionId":"nope"}`, http.StatusNotFound, "unknown collection")
	e.want("PATCH", "/collections/default/devices/"+did(loraDev), `{"deviceId":"0016c001f0000001"}`, http.StatusBadRequest, "cannot be changed")
	e.want("GET", "/collections/"+cid+"/devices/"+did(loraDev), "", http.StatusNotFound, "not \""+cid+"\"")
	e.want("DELETE", "/collections/default", "", http.StatusConflict, "cannot be deleted")
	e.want("DELETE", "/collections/"+cid, "", http.StatusNoContent, "")
	e.want("GET", "/collections/"+cid, "", http.StatusNotFound, "unknown collection")
	// The provisioned device is back in default.
	if code, _ := e.call("GET", "/collections/default/devices/urn:imei:866971030001361", "", &d); code != 200 || d.CollectionID != "default" {
		t.Fatalf("after collection delete %+v", d)
	}
	e.want("DELETE", "/collections/default/devices/866971030001361", "", http.StatusNoContent, "")
	e.want("GET", "/collections/default/devices/866971030001361", "", http.StatusNotFound, "unknown device")
	// Modem state keeps a device known after DELETE (only its placement goes).
	e.want("DELETE", "/collections/default/devices/"+did(loraDev), "", http.StatusNoContent, "")
	e.want("GET", "/collections/default/devices/"+did(loraDev), "", http.StatusOK, "")
}

func TestEndpoints(t *testing.T) {
	e := newEnv(t, outbox.Config{})
	type endpoint struct {
		Endpoint string `json:"endpoint"`
		DeviceID string `json:"deviceId"`
		Opaque   bool   `json:"opaque"`
	}
	var ep endpoint
	if code, raw := e.call("POST", "/endpoints", `{"endpoint":"meter-7","deviceId":"0016c001f0000007","opaque":true}`, &ep); code != 201 || ep.DeviceID != "0016c001f0000007" || !ep.Opaque {
		t.Fatalf("create: %d %s", code, raw)
	}
	if code, _ := e.call("POST", "/endpoints", `{"endpoint":"`+imei+`"}`, &ep); code != 201 || ep.DeviceID != nbDev.Hex() {
		t.Fatalf("default-mapped endpoint %+v", ep)
	}
	e.want("POST", "/endpoints", `{"endpoint":"meter-7","deviceId":"0016c001f0000008"}`, http.StatusConflict, "already exists")
	e.want("POST", "/endpoints", `{"endpoint":"meter-8"}`, http.StatusBadRequest, "no EUI given")
	e.want("POST", "/endpoints", `{"deviceId":"0016c001f0000008"}`, http.StatusBadRequest, "endpoint")
	e.want("POST", "/endpoints", `{"endpoint":"meter-8","deviceId":"0016c001f0000007"}`, http.StatusConflict, "belongs to endpoint")
	e.want("POST", "/endpoints", `{"endpoint":"meter-8","deviceId":"0016c001f0000008","collectionId":"nope"}`, http.StatusNotFound, "unknown collection")
	var list struct {
		Endpoints []endpoint `json:"endpoints"`
	}
	if e.call("GET", "/endpoints", "", &list); len(list.Endpoints) != 2 {
		t.Fatalf("list %+v", list)
	}
	if code, _ := e.call("PATCH", "/endpoints/meter-7", `{"opaque":false}`, &ep); code != 200 || ep.Opaque {
		t.Fatalf("patch %+v", ep)
	}
	e.want("PATCH", "/endpoints/meter-7", `{}`, http.StatusBadRequest, "give opaque, psk")
	// Provisioned names work as device ids.
	e.want("POST", "/collections/default/devices/meter-7/to", `{"port":3,"payload":"AA=="}`, http.StatusNoContent, "")
	e.want("DELETE", "/endpoints/meter-7", "", http.StatusNoContent, "")
	e.want("GET", "/endpoints/meter-7", "", http.StatusNotFound, "not provisioned")
	e.want("DELETE", "/endpoints/meter-7", "", http.StatusNotFound, "not provisioned")
}

func TestRoutingAndAuth(t *testing.T) {
	e := newEnv(t, outbox.Config{})
	e.want("GET", "/nowhere", "", http.StatusNotFound, "no route GET /nowhere")
	e.want("PUT", "/collections", "", http.StatusMethodNotAllowed, "not allowed")
	e.want("GET", "/collections/default/to", "", http.StatusMethodNotAllowed, "POST")
	req, _ := http.NewRequest("GET", e.srv.URL+"/collections", nil)
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %d", resp.StatusCode)
	}
	if _, err := horde.New(horde.Options{}); err == nil {
		t.Fatal("New accepted missing dependencies")
	}
}

// TestEndpointPSK: the DTLS pre-shared key is set on POST and PATCH,
// validated naming the field, and never echoed.
func TestEndpointPSK(t *testing.T) {
	e := newEnv(t, outbox.Config{})
	const key = "00112233445566778899aabbccddeeff"
	type endpoint struct {
		Endpoint    string  `json:"endpoint"`
		PSKIdentity string  `json:"pskIdentity"`
		PSKSet      *bool   `json:"pskSet"`
		PSK         *string `json:"psk"`
	}
	var ep endpoint
	code, raw := e.call("POST", "/endpoints", `{"endpoint":"`+imei+`","psk":"`+key+`"}`, &ep)
	if code != 201 || ep.PSKSet == nil || !*ep.PSKSet || ep.PSKIdentity != imei || ep.PSK != nil || strings.Contains(raw, key) {
		t.Fatalf("create with a key: %d %s", code, raw)
	}
	if c, err := e.fleet.PSK(context.Background(), imei); err != nil || hex.EncodeToString(c.Key) != key {
		t.Fatalf("stored key %x %v", c.Key, err)
	}
	for _, path := range []string{"/endpoints", "/endpoints/" + imei, "/endpoints/urn:imei:" + imei} {
		if code, raw := e.call("GET", path, "", nil); code != 200 || strings.Contains(raw, key) || !strings.Contains(raw, `"pskSet":true`) {
			t.Fatalf("GET %s: %d %s", path, code, raw)
		}
	}
	e.want("POST", "/endpoints", `{"endpoint":"m1","deviceId":"0016c001f0000011","psk":"zz"}`, http.StatusBadRequest, "psk: not hex")
	e.want("POST", "/endpoints", `{"endpoint":"m1","deviceId":"0016c001f0000011","psk":""}`, http.StatusBadRequest, "psk: must be 1..64 bytes")
	e.want("POST", "/endpoints", `{"endpoint":"m1","deviceId":"0016c001f0000011","pskIdentity":"m1"}`, http.StatusBadRequest, "psk_identity")
	e.want("POST", "/endpoints", `{"endpoint":"m1","deviceId":"0016c001f0000011","psk":"`+key+`","pskIdentity":"`+imei+`"}`,
		http.StatusConflict, "psk_identity")
	e.want("POST", "/endpoints", `{"endpoint":"m1","deviceId":"0016c001f0000011","psk":"`+key+`","pskIdentity":"a\u0001"}`,
		http.StatusBadRequest, "psk_identity")

	// PATCH: a new identity, then clear.
	if code, raw := e.call("PATCH", "/endpoints/"+imei, `{"pskIdentity":"tracker-1"}`, &ep); code != 200 || ep.PSKIdentity != "tracker-1" {
		t.Fatalf("new identity: %d %s", code, raw)
	}
	e.want("PATCH", "/endpoints/"+imei, `{"psk":"`+strings.Repeat("ab", 65)+`"}`, http.StatusBadRequest, "psk")
	e.want("PATCH", "/endpoints/"+imei, `{"clearPsk":true,"psk":"`+key+`"}`, http.StatusBadRequest, "clear_psk")
	ep = endpoint{}
	if code, raw := e.call("PATCH", "/endpoints/"+imei, `{"clearPsk":true}`, &ep); code != 200 || *ep.PSKSet || ep.PSKIdentity != "" {
		t.Fatalf("clear: %d %s", code, raw)
	}
	if code, raw := e.call("PATCH", "/endpoints/"+imei, `{"psk":"`+key+`"}`, &ep); code != 200 || !*ep.PSKSet || ep.PSKIdentity != imei {
		t.Fatalf("set again: %d %s", code, raw)
	}
}
