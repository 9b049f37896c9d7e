package httpapi_test

// Conformance tests: the public client fixtures of cloud-api.md §9, replayed
// over real HTTP against a server with a durable bbolt store, and the
// answers read the way each client reads them. Where a fixture's expected
// response is the canned answer of the client's own test server (TTN's
// dnlink 22/"0405", ChirpStack v3's downlink 10/"010203" and position
// 1.1/2.2/3.3), it is not a server behaviour to reproduce: the tests assert
// the shape the client parses, and the values OpenMGS really computes.

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// requiredResponseFields are UPLINK_RESPONSE's fields (seed 003).
var requiredResponseFields = []string{"operation", "file", "stream_records", "position_solution", "fulfilled_requests",
	"dnlink", "fports", "info_fields", "pending_requests", "log_messages"}

// infoFieldNames are INFO_FIELDS' fields (seed 003), each null or
// {timestamp, value}.
var infoFieldNames = []string{"status", "charge", "voltage", "temp", "signal", "uptime", "rxtime", "firmware", "adrmode",
	"joineui", "interval", "region", "crashlog", "rstcount", "deveui", "rfu", "session", "chipeui", "streampar",
	"appstatus", "alcsync"}

// checkUplinkResponse checks an UPLINK_RESPONSE object field by field
// against the seed's shapes and returns it decoded.
func checkUplinkResponse(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	m := object(t, b)
	for _, f := range requiredResponseFields {
		if _, ok := m[f]; !ok {
			t.Errorf("UPLINK_RESPONSE lacks %q: %s", f, b)
		}
	}
	var op string
	if err := json.Unmarshal(m["operation"], &op); err != nil || !slices.Contains([]string{"modem", "gnss", "wifi", "other"}, op) {
		t.Errorf("operation %s", m["operation"])
	}
	if s := string(m["stream_records"]); s != "null" {
		var recs [][]json.RawMessage
		if err := json.Unmarshal(m["stream_records"], &recs); err != nil {
			t.Errorf("stream_records %s: %v", s, err)
		}
		for _, r := range recs {
			var off uint32
			var data string
			if len(r) != 2 || json.Unmarshal(r[0], &off) != nil || json.Unmarshal(r[1], &data) != nil || !isLowerHex(data) {
				t.Errorf("stream record %s is not [offset, hex]", r)
			}
		}
	}
	if s := string(m["dnlink"]); s != "null" {
		var d struct {
			Port    uint8  `json:"port"`
			Payload string `json:"payload"`
		}
		if err := json.Unmarshal(m["dnlink"], &d); err != nil || !isLowerHex(d.Payload) || d.Payload == "" {
			t.Errorf("dnlink %s: %v", s, err)
		}
	}
	var ports map[string]uint8
	if err := json.Unmarshal(m["fports"], &ports); err != nil || len(ports) != 5 || ports["dmport"] == 0 {
		t.Errorf("fports %s: %v", m["fports"], err)
	}
	info := object(t, m["info_fields"])
	for _, f := range infoFieldNames {
		v, ok := info[f]
		if !ok {
			t.Errorf("info_fields lacks %q", f)
			continue
		}
		if string(v) == "null" {
			continue
		}
		var e struct {
			Timestamp *float64        `json:"timestamp"`
			Value     json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(v, &e); err != nil || e.Timestamp == nil || e.Value == nil {
			t.Errorf("info_fields.%s = %s, want null or {timestamp, value}", f, v)
		}
	}
	var pr struct {
		Requests *[]json.RawMessage `json:"requests"`
	}
	if err := json.Unmarshal(m["pending_requests"], &pr); err != nil || pr.Requests == nil {
		t.Errorf("pending_requests %s: want {requests: [...]}", m["pending_requests"])
	}
	var logs []struct {
		Logmsg    string   `json:"logmsg"`
		Level     string   `json:"level"`
		Timestamp *float64 `json:"timestamp"`
	}
	if err := json.Unmarshal(m["log_messages"], &logs); err != nil || string(m["log_messages"]) == "null" {
		t.Errorf("log_messages %s: want a list", m["log_messages"])
	}
	for _, l := range logs {
		if l.Logmsg == "" || !slices.Contains([]string{"INFO", "WARNING", "ERROR"}, l.Level) || l.Timestamp == nil {
			t.Errorf("log message %+v", l)
		}
	}
	return m
}

func isLowerHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil && s == strings.ToLower(s)
}

// lastUplinkMatches compares DEVICEINFO.last_uplink with the UPLINK_MSG a
// client sent, field by field (every field the client sent must come back
// with the same value).
func lastUplinkMatches(t *testing.T, s *testServer, eui string, sent json.RawMessage) {
	t.Helper()
	r := s.post("/api/v1/device/info", map[string]any{"deveuis": []string{eui}}).ok(t)
	it := perEUI(t, r.env.Result)[eui]
	if it.Error != "" {
		t.Fatalf("device/info %s: %s", eui, it.Error)
	}
	var got struct {
		LastUplink map[string]any `json:"last_uplink"`
	}
	if err := json.Unmarshal(it.Result, &got); err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(sent, &want); err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if k == "port" && v == float64(0) {
			continue // FPort 0 is read as "no port"
		}
		if !cmp.Equal(got.LastUplink[k], v) {
			t.Errorf("last_uplink.%s = %v, sent %v", k, got.LastUplink[k], v)
		}
	}
}

// parseTTNKey parses a result key the way TTN's objects.toEUI does (dashed
// hex pairs, %X accepts both cases).
func parseTTNKey(s string) ([8]byte, error) {
	var e [8]byte
	_, err := fmt.Sscanf(s, "%02X-%02X-%02X-%02X-%02X-%02X-%02X-%02X", &e[0], &e[1], &e[2], &e[3], &e[4], &e[5], &e[6], &e[7])
	return e, err
}

// parseCS3Key parses a result key the way ChirpStack v3's helpers.EUI64
// does: eight dash-separated one-byte hex parts.
func parseCS3Key(s string) ([8]byte, error) {
	var e [8]byte
	parts := strings.Split(s, "-")
	if len(parts) != 8 {
		return e, fmt.Errorf("eui64 must be 8 bytes")
	}
	for i, p := range parts {
		b, err := hex.DecodeString(p)
		if err != nil || len(b) != 1 {
			return e, fmt.Errorf("part %d: %q", i, p)
		}
		e[i] = b[0]
	}
	return e, nil
}

func TestConformanceTTN(t *testing.T) {
	var fx struct {
		Method, Path   string
		AuthHeader     string          `json:"auth_header"`
		Token          string          `json:"token"`
		Request        json.RawMessage `json:"request"`
		MockedResponse json.RawMessage `json:"mocked_response"`
	}
	fixture(t, "ttn_loradms.json", &fx)
	s := newServer(t, []string{fx.Token, "root"})

	// client_test.go TestNoAuth: no token configured → no Authorization
	// header; a server with tokens answers 401, which TTN reports (non-2xx).
	s.do(fx.Method, fx.Path, fx.Request).failed(t, http.StatusUnauthorized, "missing API token")

	// uplinks_test.go "Send" with the raw token (client_test.go TestAuth).
	// The client encodes with json.Encoder: the body ends with a newline.
	r := s.do(fx.Method, fx.Path, append(append([]byte(nil), fx.Request...), '\n'), fx.AuthHeader, fx.Token).ok(t)
	// TTN's parse: 2xx, empty errors, result = map EUI → {result, error}.
	var mocked struct {
		Result map[string]struct {
			Result map[string]json.RawMessage `json:"result"`
		} `json:"result"`
	}
	if err := json.Unmarshal(fx.MockedResponse, &mocked); err != nil {
		t.Fatal(err)
	}
	items := perEUI(t, r.env.Result)
	if len(items) != len(mocked.Result) {
		t.Fatalf("%d result keys, the client expects %d", len(items), len(mocked.Result))
	}
	for key, want := range mocked.Result {
		it, ok := items[key]
		if !ok {
			t.Fatalf("result lacks the key %q", key)
		}
		if e, err := parseTTNKey(key); err != nil || e != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
			t.Fatalf("key %q: %v", key, err)
		}
		if it.Error != "" {
			t.Fatalf("error %q", it.Error)
		}
		got := checkUplinkResponse(t, it.Result)
		// Every field of the mocked answer is a field OpenMGS answers.
		for f := range want.Result {
			if _, ok := got[f]; !ok {
				t.Errorf("result lacks %q", f)
			}
		}
		// What OpenMGS computes: port 199 is the DM port; 03 04 is the
		// temperature info field (4 °C); nothing is pending, so no dnlink.
		if string(got["operation"]) != `"modem"` || string(got["dnlink"]) != "null" {
			t.Errorf("operation %s dnlink %s", got["operation"], got["dnlink"])
		}
		var temp struct {
			Timestamp float64 `json:"timestamp"`
			Value     int     `json:"value"`
		}
		json.Unmarshal(object(t, got["info_fields"])["temp"], &temp)
		if temp.Value != 4 || temp.Timestamp != 100 {
			t.Errorf("info_fields.temp = %+v, want 4 at 100", temp)
		}
	}
	lastUplinkMatches(t, s, "01-02-03-04-05-06-07-08", object(t, fx.Request)["01-02-03-04-05-06-07-08"])

	// With a request queued, the answer carries a real dnlink in the shape
	// objects.LoRaDnlink decodes ({port uint8, payload hex}).
	s.post("/api/v1/requests/set", `{"deveuis":["01-02-03-04-05-06-07-08"],"requests":[{"type":"GETINFO","param":["charge"]}]}`).ok(t)
	next := strings.Replace(string(fx.Request), `"fcnt":42`, `"fcnt":43`, 1)
	// TTN writes EUIs upper case: the key comes back as sent.
	next = strings.Replace(next, "01-02-03-04-05-06-07-08", "01-02-03-04-05-06-07-0A", 1)
	s.post("/api/v1/requests/set", `{"deveuis":["01-02-03-04-05-06-07-0a"],"requests":[{"type":"GETINFO","param":["charge"]}]}`).ok(t)
	r = s.do(fx.Method, fx.Path, []byte(next), fx.AuthHeader, fx.Token).ok(t)
	it, ok := perEUI(t, r.env.Result)["01-02-03-04-05-06-07-0A"]
	if !ok || it.Error != "" {
		t.Fatalf("upper-case key: %s", r.raw)
	}
	var dn struct {
		Dnlink *struct {
			Port    uint8  `json:"port"`
			Payload string `json:"payload"`
		} `json:"dnlink"`
	}
	if err := json.Unmarshal(it.Result, &dn); err != nil || dn.Dnlink == nil {
		t.Fatalf("dnlink: %v %s", err, it.Result)
	}
	if dn.Dnlink.Port != 199 || !isLowerHex(dn.Dnlink.Payload) {
		t.Errorf("dnlink %+v", *dn.Dnlink)
	}
}

func TestConformanceChirpStackV4(t *testing.T) {
	var fx struct {
		Method, Path string
		AuthHeader   string   `json:"auth_header"`
		RequestText  string   `json:"request_text"`
		ResultFields []string `json:"result_fields"`
	}
	fixture(t, "chirpstack_v4.json", &fx)
	s := newServer(t, []string{"cs4-token", "root"})
	r := s.do(fx.Method, fx.Path, []byte(fx.RequestText), fx.AuthHeader, "cs4-token").ok(t)
	// serde: "error" may be absent (default "") but must not be null.
	if e, ok := r.keys["error"]; ok {
		var s string
		if err := json.Unmarshal(e, &s); err != nil || string(e) == "null" {
			t.Errorf("error = %s: ChirpStack v4 needs a string", e)
		}
	}
	res := checkUplinkResponse(t, r.env.Result)
	for _, f := range fx.ResultFields {
		if _, ok := res[f]; !ok {
			t.Errorf("result lacks %q", f)
		}
	}
	// Port 2 is no protocol port: the uplink is application data ("other")
	// and only a downlink opportunity.
	if string(res["operation"]) != `"other"` || string(res["position_solution"]) != "null" {
		t.Errorf("operation %s position %s", res["operation"], res["position_solution"])
	}
	var req struct {
		Deveui string          `json:"deveui"`
		Uplink json.RawMessage `json:"uplink"`
	}
	json.Unmarshal([]byte(fx.RequestText), &req)
	lastUplinkMatches(t, s, req.Deveui, req.Uplink)

	// A failure carries the "error" string ChirpStack v4 reads (after its
	// error_for_status) and a non-2xx status.
	bad := strings.Replace(fx.RequestText, `"fcnt":10,`, "", 1)
	r = s.do(fx.Method, fx.Path, []byte(bad), fx.AuthHeader, "cs4-token")
	r.failed(t, http.StatusBadRequest, "uplink.fcnt")
	if r.env.Error == nil || *r.env.Error != r.env.Errors[0] {
		t.Errorf("top-level error %v, want the message", r.env.Error)
	}
	// Wrong key in the CS4 header: 401, with "error" too.
	r = s.do(fx.Method, fx.Path, []byte(fx.RequestText), fx.AuthHeader, "wrong")
	r.failed(t, http.StatusUnauthorized, "invalid API token")
	if r.env.Error == nil {
		t.Error("401 of device/send without a top-level error")
	}
}

func TestConformanceChirpStackV3(t *testing.T) {
	var fx struct {
		Method, Path string
		AuthHeader   string `json:"auth_header"`
		Cases        []struct {
			Name      string
			Request   map[string]json.RawMessage
			Operation string
		}
	}
	fixture(t, "chirpstack_v3.json", &fx)
	s := newServer(t, []string{"cs3-token", "root"})
	for _, tc := range fx.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			r := s.do(fx.Method, fx.Path, jsonBody(t, tc.Request), fx.AuthHeader, "cs3-token")
			if r.status != http.StatusOK { // CS3: "expected 200"
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			var resp struct {
				Result map[string]struct {
					Result json.RawMessage `json:"result"`
					Error  string          `json:"error"`
				} `json:"result"`
			}
			if err := json.Unmarshal(r.raw, &resp); err != nil {
				t.Fatal(err)
			}
			for key, sent := range tc.Request {
				it, ok := resp.Result[key]
				if !ok {
					t.Fatalf("no result for %q", key)
				}
				if _, err := parseCS3Key(key); err != nil {
					t.Fatalf("key %q: %v", key, err)
				}
				if it.Error != "" {
					t.Fatalf("error %q", it.Error)
				}
				res := checkUplinkResponse(t, it.Result)
				// das.UplinkResponseResult's typed fields decode.
				var typed struct {
					StreamRecords [][]any `json:"stream_records"`
					Position      *struct {
						LLH      []float64 `json:"llh"`
						Accuracy float64   `json:"accuracy"`
					} `json:"position_solution"`
					Dnlink *struct {
						Port    uint8  `json:"port"`
						Payload string `json:"payload"`
					} `json:"dnlink"`
				}
				if err := json.Unmarshal(it.Result, &typed); err != nil {
					t.Fatalf("das.UplinkResponseResult: %v", err)
				}
				if string(res["operation"]) != `"`+tc.Operation+`"` {
					t.Errorf("operation %s, want %s", res["operation"], tc.Operation)
				}
				lastUplinkMatches(t, s, key, sent)
			}
		})
	}
}

func TestConformanceNodeRED(t *testing.T) {
	var fx struct {
		AuthHeader         string          `json:"auth_header"`
		Deveuis            []string        `json:"deveuis"`
		RequestsSet        json.RawMessage `json:"requests_set"`
		RequestsSetGetinfo json.RawMessage `json:"requests_set_getinfo"`
		DeviceInfo         json.RawMessage `json:"device_info"`
		RequestsClear      json.RawMessage `json:"requests_clear"`
		SendJoin           json.RawMessage `json:"device_send_join"`
		SendModem          json.RawMessage `json:"device_send_modem"`
		SendUpdf           json.RawMessage `json:"device_send_updf"`
		Reads              []string        `json:"mgs_parser_reads"`
	}
	fixture(t, "nodered.json", &fx)
	s := newServer(t, []string{"nr-token", "root"})
	hdr := []string{fx.AuthHeader, "nr-token"}
	eui := fx.Deveuis[0]

	// mgs-parser: any "error" key is a failure; result.file, stream_records
	// and dnlink are read as null-or-value.
	send := func(body json.RawMessage) map[string]json.RawMessage {
		t.Helper()
		r := s.post("/api/v1/device/send", body, hdr...).ok(t)
		if _, ok := r.keys["error"]; ok {
			t.Fatalf("device/send success with an \"error\" key: Node-RED reports it as a failure\n%s", r.raw)
		}
		res := checkUplinkResponse(t, r.env.Result)
		for _, f := range fx.Reads {
			if _, ok := res[f]; !ok {
				t.Errorf("result lacks %q", f)
			}
		}
		return res
	}

	// Join, then queue RESET 3 exactly as the flow does.
	send(fx.SendJoin)
	r := s.post("/api/v1/requests/set", fx.RequestsSet, hdr...).ok(t)
	var set struct {
		Deveuis  []string
		Requests []map[string]any
		Upcount  uint32
		Updelay  uint32
	}
	json.Unmarshal(fx.RequestsSet, &set)
	var pr struct {
		Requests []struct {
			ID        uint32         `json:"id"`
			Timestamp float64        `json:"timestamp"`
			Request   map[string]any `json:"request"`
		} `json:"requests"`
		Upcount uint32 `json:"upcount"`
		Updelay uint32 `json:"updelay"`
	}
	it := perEUI(t, r.env.Result)[eui]
	if it.Error != "" || json.Unmarshal(it.Result, &pr) != nil {
		t.Fatalf("requests/set: %s", r.raw)
	}
	if len(pr.Requests) != 1 || !cmp.Equal(pr.Requests[0].Request, set.Requests[0]) || pr.Upcount != set.Upcount ||
		pr.Updelay != set.Updelay || pr.Requests[0].ID == 0 || pr.Requests[0].Timestamp == 0 {
		t.Fatalf("pending %+v, sent %+v", pr, set)
	}

	// "Update all info from modem": GETINFO with 17 field names.
	r = s.post("/api/v1/requests/set", fx.RequestsSetGetinfo, hdr...).ok(t)
	if json.Unmarshal(perEUI(t, r.env.Result)[eui].Result, &pr) != nil || len(pr.Requests) != 2 {
		t.Fatalf("requests/set GETINFO: %s", r.raw)
	}
	var gi struct{ Requests []struct{ Param []string } }
	json.Unmarshal(fx.RequestsSetGetinfo, &gi)
	got, _ := pr.Requests[1].Request["param"].([]any)
	var names []string
	for _, g := range got {
		names = append(names, g.(string))
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(gi.Requests[0].Param))
	if pr.Requests[1].Request["type"] != "GETINFO" || !cmp.Equal(names, want) {
		t.Fatalf("GETINFO param %v, sent %v", names, want)
	}

	// The modem uplink opens the downlink window: mgs-parser forwards dnlink.
	res := send(fx.SendModem)
	var dn *struct {
		Port    uint8  `json:"port"`
		Payload string `json:"payload"`
	}
	if json.Unmarshal(res["dnlink"], &dn) != nil || dn == nil || dn.Port != 199 {
		t.Fatalf("no dnlink after queued requests: %s", res["dnlink"])
	}
	if string(res["operation"]) != `"modem"` {
		t.Errorf("operation %s", res["operation"])
	}
	res = send(fx.SendUpdf)
	if string(res["operation"]) != `"other"` {
		t.Errorf("updf on port 2: operation %s", res["operation"])
	}

	// device/info: DEVICEINFO with the seed's required fields.
	r = s.post("/api/v1/device/info", fx.DeviceInfo, hdr...).ok(t)
	di := perEUI(t, r.env.Result)[eui]
	if di.Error != "" {
		t.Fatalf("device/info: %s", di.Error)
	}
	info := object(t, di.Result)
	for _, f := range []string{"fports", "info_fields", "pending_requests", "log_messages", "uploaded_files", "uploaded_stream_records", "last_uplink"} {
		if v, ok := info[f]; !ok || string(v) == "null" {
			t.Errorf("DEVICEINFO.%s = %s", f, v)
		}
	}
	lastUplinkMatches(t, s, eui, object(t, fx.SendUpdf)["uplink"])

	// requests/clear empties the queue.
	r = s.post("/api/v1/requests/clear", fx.RequestsClear, hdr...).ok(t)
	if json.Unmarshal(perEUI(t, r.env.Result)[eui].Result, &pr) != nil || len(pr.Requests) != 0 {
		t.Fatalf("requests/clear: %s", r.raw)
	}
}

func TestConformanceTTNTokens(t *testing.T) {
	type call struct {
		Method string
		Path   string
		Query  string
		Body   json.RawMessage
	}
	var raw map[string]json.RawMessage
	fixture(t, "ttn_tokens.json", &raw)
	fx := map[string]call{}
	for _, k := range []string{"list", "add", "update_renew", "update", "get", "remove"} {
		var c call
		if err := json.Unmarshal(raw[k], &c); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		fx[k] = c
	}
	s := newServer(t, []string{"root"})
	adm := []string{"Authorization", "root"}

	add := fx["add"]
	r := s.do(add.Method, add.Path, add.Body, adm...).ok(t)
	var tok struct {
		ID           string   `json:"id"`
		Name         string   `json:"name"`
		Token        string   `json:"token"`
		Capabilities []string `json:"capabilities"`
	}
	json.Unmarshal(r.env.Result, &tok)
	if tok.Name != "foo" || !cmp.Equal(tok.Capabilities, []string{"read"}) || !strings.HasPrefix(tok.Token, "mgs_") {
		t.Fatalf("token/add: %s", r.raw)
	}
	secret := tok.Token

	r = s.do(fx["list"].Method, fx["list"].Path, nil, adm...).ok(t)
	var list struct {
		Tokens []struct {
			Name, Token string
		}
	}
	json.Unmarshal(r.env.Result, &list)
	if len(list.Tokens) != 2 || list.Tokens[1].Name != "foo" || list.Tokens[1].Token != tok.ID {
		t.Fatalf("token/list (secrets must not be shown): %s", r.raw)
	}
	if strings.Contains(string(r.raw), secret) {
		t.Fatal("token/list shows a secret")
	}

	path := func(op, ref string) string { return strings.Replace(fx[op].Path, "{token}", ref, 1) }
	r = s.do(fx["get"].Method, path("get", tok.ID), nil, adm...).ok(t)
	json.Unmarshal(r.env.Result, &tok)
	if tok.Name != "foo" {
		t.Fatalf("token/{id}: %s", r.raw)
	}
	r = s.do(fx["update"].Method, path("update", secret)+"?"+fx["update"].Query, nil, adm...).ok(t)
	json.Unmarshal(r.env.Result, &tok)
	if tok.Name != "bar" || tok.Token != tok.ID {
		t.Fatalf("update without renew: %s", r.raw)
	}
	r = s.do(fx["update_renew"].Method, path("update_renew", tok.ID)+"?"+fx["update_renew"].Query, nil, adm...).ok(t)
	json.Unmarshal(r.env.Result, &tok)
	if tok.Token == secret || !strings.HasPrefix(tok.Token, "mgs_") {
		t.Fatalf("update with renew: %s", r.raw)
	}
	// The old secret is dead, the new one reads but cannot write.
	s.post("/api/v1/device/info", `{"deveuis":["0102030405060708"]}`, "Authorization", secret).failed(t, http.StatusUnauthorized, "invalid")
	s.post("/api/v1/device/info", `{"deveuis":["0102030405060708"]}`, "Authorization", tok.Token).ok(t)
	s.do(fx["list"].Method, fx["list"].Path, nil, "Authorization", tok.Token).failed(t, http.StatusForbidden, "admin")

	s.do(fx["remove"].Method, path("remove", tok.ID), nil, adm...).ok(t)
	s.do(fx["get"].Method, path("get", tok.ID), nil, adm...).failed(t, http.StatusNotFound, "no such token")
	s.do(fx["remove"].Method, path("remove", "static-1"), nil, adm...).failed(t, http.StatusConflict, "static")
}
