package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/openmgs/openmgs/auth"
	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store/boltstore"
)

const okUplink = `{"msgtype":"updf","fcnt":1,"port":199,"payload":"0304","timestamp":100}`

func TestBadInputIsRejectedAndNothingStored(t *testing.T) {
	s := newServer(t, []string{"root"})
	many := func(n int, last string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			u := okUplink
			if i == n-1 && last != "" {
				u = last
			}
			fmt.Fprintf(&b, `"%016x":%s`, i+1, u)
		}
		b.WriteString("}")
		return b.String()
	}
	for _, tc := range []struct {
		name, path, body string
		want             []string // substrings of the error (the field)
	}{
		{"malformed JSON", "/api/v1/uplink/send", `{"0102030405060708": {`, []string{"0102030405060708"}},
		{"not an object", "/api/v1/uplink/send", `[1,2]`, []string{"body"}},
		{"trailing data", "/api/v1/uplink/send", `{"0102030405060708": ` + okUplink + `} x`, []string{"body"}},
		{"empty body", "/api/v1/uplink/send", ``, []string{"body"}},
		{"empty map", "/api/v1/uplink/send", `{}`, []string{"body", "at least one"}},
		{"bad EUI key", "/api/v1/uplink/send", `{"01-02-03": ` + okUplink + `}`, []string{"01-02-03", "EUI"}},
		{"null uplink", "/api/v1/uplink/send", `{"0102030405060708": null}`, []string{"0102030405060708", "UPLINK_MSG"}},
		{"unknown field in UPLINK_MSG", "/api/v1/uplink/send", `{"0102030405060708": {"fcnt":1,"colour":"red"}}`, []string{"0102030405060708", "colour"}},
		{"wrong type fcnt", "/api/v1/uplink/send", `{"0102030405060708": {"fcnt":"ten"}}`, []string{"0102030405060708", "fcnt"}},
		{"wrong type payload", "/api/v1/uplink/send", `{"0102030405060708": {"fcnt":1,"payload":12}}`, []string{"payload"}},
		{"negative port", "/api/v1/uplink/send", `{"0102030405060708": {"fcnt":1,"port":-1}}`, []string{"port"}},
		{"port too big", "/api/v1/uplink/send", `{"0102030405060708": {"fcnt":1,"port":300}}`, []string{"0102030405060708.port"}},
		{"odd hex", "/api/v1/uplink/send", `{"0102030405060708": {"fcnt":1,"port":199,"payload":"abc"}}`, []string{"0102030405060708.payload"}},
		{"missing fcnt", "/api/v1/uplink/send", `{"0102030405060708": {"msgtype":"updf","port":2}}`, []string{"0102030405060708.fcnt"}},
		{"unknown msgtype", "/api/v1/uplink/send", `{"0102030405060708": {"msgtype":"lorawan","fcnt":1}}`, []string{"0102030405060708.msgtype"}},
		{"gnss without payload", "/api/v1/uplink/send", `{"0102030405060708": {"msgtype":"gnss"}}`, []string{"0102030405060708.payload"}},
		{"bad item after good ones", "/api/v1/uplink/send", many(5, `{"fcnt":1,"dr":99}`), []string{"0000000000000005.dr"}},
		{"129 devices", "/api/v1/uplink/send", many(129, ""), []string{"body", "128"}},
		{"duplicate key", "/api/v1/uplink/send", `{"0102030405060708": ` + okUplink + `, "0102030405060708": ` + okUplink + `}`, []string{"0102030405060708", "twice"}},

		{"device/send malformed", "/api/v1/device/send", `{"deveui":`, []string{"body"}},
		{"device/send unknown field", "/api/v1/device/send", `{"deveui":"0102030405060708","uplink":` + okUplink + `,"extra":1}`, []string{"extra"}},
		{"device/send bad EUI", "/api/v1/device/send", `{"deveui":"xyz","uplink":` + okUplink + `}`, []string{"deveui"}},
		{"device/send no uplink", "/api/v1/device/send", `{"deveui":"0102030405060708"}`, []string{"uplink"}},
		{"device/send wrong type", "/api/v1/device/send", `{"deveui":"0102030405060708","uplink":{"fcnt":1,"timestamp":"noon"}}`, []string{"timestamp"}},
		{"device/send bad position", "/api/v1/device/send", `{"deveui":"0102030405060708","uplink":{"msgtype":"gnss","payload":"00","gnss_assist_position":[1]}}`, []string{"uplink.gnss_assist_position"}},

		{"requests/set bad EUI", "/api/v1/requests/set", `{"deveuis":["0102030405060708","nope"],"requests":[{"type":"REJOIN"}]}`, []string{"deveuis[1]"}},
		{"requests/set unknown type", "/api/v1/requests/set", `{"deveuis":["0102030405060708"],"requests":[{"type":"EXPLODE"}]}`, []string{"requests[0].type"}},
		{"requests/set bad param", "/api/v1/requests/set", `{"deveuis":["0102030405060708"],"requests":[{"type":"RESET","param":9}]}`, []string{"requests[0].param"}},
		{"requests/set upcount", "/api/v1/requests/set", `{"deveuis":["0102030405060708"],"requests":[{"type":"REJOIN"}],"upcount":300}`, []string{"upcount"}},
		{"requests/set unknown field", "/api/v1/requests/set", `{"deveuis":["0102030405060708"],"requests":[{"type":"REJOIN"}],"when":1}`, []string{"when"}},
		{"requests/set wrong type", "/api/v1/requests/set", `{"deveuis":"0102030405060708","requests":[]}`, []string{"deveuis"}},
		{"device/add bad EUI", "/api/v1/device/add", `{"deveuis":["0102030405060708","0102"]}`, []string{"deveuis[1]"}},
		{"device/add unknown field", "/api/v1/device/add", `{"deveuis":["0102030405060708"],"owner":"x"}`, []string{"owner"}},
		{"device/add wrong type", "/api/v1/device/add", `{"deveuis":[1]}`, []string{"deveuis"}},
		{"ports/set bad port", "/api/v1/device/ports/set", `{"deveuis":["0102030405060708"],"fports":{"dmport":250}}`, []string{"fports.dmport"}},
		{"ports/set same ports", "/api/v1/device/ports/set", `{"deveuis":["0102030405060708"],"fports":{"dmport":198}}`, []string{"fports"}},
		{"ports/set no EUI", "/api/v1/device/ports/set", `{"fports":{"dmport":200}}`, []string{"deveuis"}},
		{"account ports with EUI", "/api/v1/account/ports/set", `{"deveuis":["0102030405060708"],"fports":{"dmport":200}}`, []string{"deveuis"}},
		{"device/info no EUI", "/api/v1/device/info", `{"deveuis":[]}`, []string{"deveuis"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.post(tc.path, tc.body)
			r.failed(t, http.StatusBadRequest, tc.want...)
			if n := s.deviceCount(); n != 0 {
				t.Fatalf("%d devices stored after a rejected request", n)
			}
		})
	}
	// The default ports did not change either.
	r := s.do(http.MethodGet, "/api/v1/account/ports", nil, "Authorization", "root").ok(t)
	if !strings.Contains(string(r.env.Result), `"dmport":199`) {
		t.Fatalf("default ports changed: %s", r.env.Result)
	}
}

func TestBodyLimit(t *testing.T) {
	s := newServer(t, []string{"root"})
	big := append([]byte(`{"0102030405060708":{"fcnt":1,"payload":"`), bytes.Repeat([]byte("00"), httpapi.DefaultMaxBodyBytes/2)...)
	big = append(big, `"}}`...)
	s.post("/api/v1/uplink/send", big).failed(t, http.StatusRequestEntityTooLarge, "body", "1048576")
	if s.deviceCount() != 0 {
		t.Fatal("stored after 413")
	}
	// A smaller limit applies to every endpoint.
	small := newServer(t, []string{"root"}, func(o *httpapi.Options, _ *auth.Options, _ *boltstore.Options) { o.MaxBodyBytes = 64 })
	small.post("/api/v1/device/info", `{"deveuis":["0102030405060708","0102030405060709","010203040506070a"]}`).
		failed(t, http.StatusRequestEntityTooLarge, "64")
}

func TestRoutingStatuses(t *testing.T) {
	s := newServer(t, []string{"root"})
	s.do(http.MethodPost, "/api/v1/uplink/sendd", []byte("{}"), "Authorization", "root").failed(t, http.StatusNotFound, "/api/v1/uplink/sendd")
	s.do(http.MethodGet, "/", nil).failed(t, http.StatusNotFound)
	r := s.do(http.MethodGet, "/api/v1/uplink/send", nil, "Authorization", "root")
	r.failed(t, http.StatusMethodNotAllowed, "GET")
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	// token/list is a path of its own, not the token "list".
	r = s.do(http.MethodDelete, "/api/v1/token/list", nil, "Authorization", "root")
	r.failed(t, http.StatusMethodNotAllowed)
	r = s.do(http.MethodPatch, "/api/v1/token/abc", nil, "Authorization", "root")
	r.failed(t, http.StatusMethodNotAllowed)
	if r.header.Get("Allow") != "GET, DELETE" {
		t.Errorf("Allow %q", r.header.Get("Allow"))
	}
	// Solvers and the almanac: the envelope with a clear 501.
	for _, p := range []string{"solve/gnss_lr1110_singleframe", "solve/gnss_lr1110_multiframe", "solve/gnss_lora_edge_singleframe", "solve/loraWifi"} {
		s.post("/api/v1/"+p, `{}`).failed(t, http.StatusNotImplemented, "solver is not available")
	}
	s.do(http.MethodGet, "/api/v1/almanac/full", nil, "Authorization", "root").failed(t, http.StatusNotImplemented, "not published")
	// A device that does not exist is a per-EUI error, the request is 200.
	r = s.post("/api/v1/device/info", `{"deveuis":["0102030405060708"]}`).ok(t)
	if it := perEUI(t, r.env.Result)["0102030405060708"]; it.Error == "" || it.Result != nil {
		t.Fatalf("unknown device: %s", r.raw)
	}
}

func TestAuthentication(t *testing.T) {
	s := newServer(t, []string{"root"})
	ctx := context.Background()
	reader, err := s.auth.Add(ctx, "dashboard", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	up, err := s.auth.Add(ctx, "lns", []string{"uplink"})
	if err != nil {
		t.Fatal(err)
	}
	send := `{"0102030405060708":` + okUplink + `}`
	// Missing and invalid tokens: 401, whatever the header.
	s.post("/api/v1/uplink/send", send, "X-Other", "root").failed(t, http.StatusUnauthorized, "missing API token")
	s.post("/api/v1/uplink/send", send, "Authorization", "wrong").failed(t, http.StatusUnauthorized, "invalid API token")
	s.post("/api/v1/uplink/send", send, "Ocp-Apim-Subscription-Key", "wrong").failed(t, http.StatusUnauthorized, "invalid API token")
	// A read-only token cannot send uplinks or add requests: 403.
	s.post("/api/v1/uplink/send", send, "Authorization", reader.Token).failed(t, http.StatusForbidden, "uplink")
	s.post("/api/v1/device/send", `{"deveui":"0102030405060708","uplink":`+okUplink+`}`, "Authorization", reader.Token).
		failed(t, http.StatusForbidden, "uplink")
	s.post("/api/v1/requests/set", `{"deveuis":["0102030405060708"],"requests":[{"type":"REJOIN"}]}`, "Authorization", reader.Token).
		failed(t, http.StatusForbidden, "requests")
	s.post("/api/v1/device/remove", `{"deveuis":["0102030405060708"]}`, "Authorization", reader.Token).failed(t, http.StatusForbidden, "devices")
	if s.deviceCount() != 0 {
		t.Fatal("a refused request stored something")
	}
	// The uplink token sends (raw, Bearer, or in the CS4 header) but cannot read.
	s.post("/api/v1/uplink/send", send, "Authorization", up.Token).ok(t)
	s.post("/api/v1/device/send", `{"deveui":"0102030405060708","uplink":{"fcnt":2}}`, "Authorization", "Bearer "+up.Token).ok(t)
	s.post("/api/v1/device/send", `{"deveui":"0102030405060708","uplink":{"fcnt":3}}`, "Ocp-Apim-Subscription-Key", up.Token).ok(t)
	s.post("/api/v1/device/info", `{"deveuis":["0102030405060708"]}`, "Authorization", up.Token).failed(t, http.StatusForbidden, "read")
	s.post("/api/v1/device/info", `{"deveuis":["0102030405060708"]}`, "Authorization", reader.Token).ok(t)
	// The OpenAPI document is public.
	r := s.do(http.MethodGet, "/api/openapi.json", nil)
	if r.status != http.StatusOK || r.keys["openapi"] == nil {
		t.Fatalf("openapi.json: %d", r.status)
	}
}

func TestOpenModeOnLoopback(t *testing.T) {
	s := newServer(t, nil) // no token of any kind, AllowOpen
	s.post("/api/v1/uplink/send", `{"0102030405060708":`+okUplink+`}`, "X-None", "").ok(t)
	s.post("/api/v1/uplink/send", `{"0102030405060709":`+okUplink+`}`, "Authorization", "anything").ok(t)
	// The first token (an admin one) ends open mode.
	r := s.post("/api/v1/token/add", `{"name":"ops","capabilities":["admin"]}`, "X-None", "").ok(t)
	s.post("/api/v1/uplink/send", `{"010203040506070a":`+okUplink+`}`, "X-None", "").failed(t, http.StatusUnauthorized, "missing")
	var tok struct{ Token string }
	if err := json.Unmarshal(r.env.Result, &tok); err != nil {
		t.Fatal(err)
	}
	s.post("/api/v1/uplink/send", `{"010203040506070a":`+okUplink+`}`, "Authorization", tok.Token).ok(t)
	// A first token without admin is refused (it would lock token management).
	c := newServer(t, nil)
	c.post("/api/v1/token/add", `{"name":"ro","capabilities":["read"]}`, "X-None", "").failed(t, http.StatusConflict, "admin")
	c.post("/api/v1/token/add", `{"name":"x","capabilities":["root"]}`, "X-None", "").failed(t, http.StatusBadRequest, "capabilities[0]")
}

// TestOneImplementation: what the HTTP API stores is what the gRPC
// service (the same *server.Modem) reads, and the HTTP rendering of
// device/info is the gRPC answer in LoRa Cloud JSON.
func TestOneImplementation(t *testing.T) {
	s := newServer(t, []string{"root"})
	s.post("/api/v1/uplink/send", `{"00-16-C0-01-F0-00-40-6E": {"fcnt":1,"port":199,"payload":"00080100000319040e1c0500000600000700000000000000000f0300120500","timestamp":1234.5}}`).ok(t)
	s.post("/api/v1/requests/set", `{"deveuis":["0016c001f000406e"],"requests":[{"type":"GETINFO","param":["temp"]}],"upcount":2,"updelay":5}`).ok(t)
	r := s.post("/api/v1/device/info", `{"deveuis":["00-16-c0-01-f0-00-40-6e"]}`).ok(t)
	g, err := s.modem.GetDeviceInfo(context.Background(), &mgsv1.GetDeviceInfoRequest{Deveuis: []string{"0016C001F000406E"}})
	if err != nil {
		t.Fatal(err)
	}
	// Rebuild the gRPC message from the HTTP JSON (the shapes match field
	// for field, apart from stream records and nulls) and compare.
	it := perEUI(t, r.env.Result)["00-16-c0-01-f0-00-40-6e"]
	var fromHTTP mgsv1.DeviceInfo
	if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(it.Result, &fromHTTP); err != nil {
		t.Fatalf("DEVICEINFO JSON is not mgs.v1 DeviceInfo: %v", err)
	}
	if diff := cmp.Diff(g.Results[0].Info, &fromHTTP, protocmp.Transform()); diff != "" {
		t.Fatalf("HTTP and gRPC disagree (-grpc +http):\n%s", diff)
	}
	if fromHTTP.InfoFields.GetTemp().GetValue() != 25 || fromHTTP.PendingRequests.Upcount != 2 {
		t.Fatalf("state: %v", &fromHTTP)
	}
}
