package everynet

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/internal/lora"
	"github.com/openmgs/openmgs/internal/sharedtest"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/uplink"
)

// Examples from the Data API docs (everynet.md sources), verbatim apart
// from whitespace.
const (
	docUplinkNoRadio = `{"meta":{"network":"75697b95","packet_hash":"889a72ab34a647f504ef37d598589431","application":"70b3d54b17db0106","device_addr":"36c365b4","time":1504806725.252493,"device":"faa73111a2aead2c","packet_id":"bfa4be139911fe8ff80bc0afbf110fa3","gateway":"7c95bd79864622a4"},"params":{"rx_time":1504806725.245682,"port":55,"counter_up":118,"payload":"MjRjZjA4YWQyZGE5NGZlZDlkNmRiY2VkOTMwYWMzZjM=","encrypted_payload":"ehMceJ/3W3itJE8rwwvL3y0yu485QMHpLCa4km/TZYM="},"type":"uplink"}`
	// radio.modulation.type is 0 here.
	docUplinkRadio = `{"meta":{"network":"75697b95","packet_hash":"79f664df2c2073af798fa87497305d8d","application":"70b3d54b17db0106","device_addr":"36c365b4","time":1504806731.256388,"device":"faa73111a2aead2c","packet_id":"fdbb09021c4523d9f28bb815ca872c70","gateway":"7c95bd79864622a4"},"params":{"rx_time":1504806731.249041,"port":27,"radio":{"modulation":{"bandwidth":125000,"type":0,"spreading":12,"coderate":"4/7"},"hardware":{"status":1,"chain":0,"tmst":514586002,"snr":5.0,"rssi":-100.0,"channel":0,"gps":{"lat":59.890445709228516,"lng":30.258167266845703}},"freq":868.1,"datarate":0,"time":1504806731.249041},"counter_up":120,"payload":"ZGEwOTg3MmI4NmU4NGI4MDg4YzZmMWU4ZjM5NmViODU=","encrypted_payload":"aiN3/x3Z7wz7NMPq+qoWf/17pq2J3Cx/p1kjvarfLEE="},"type":"uplink"}`
	// A 2022 AU915 uplink (goeverynet uplink_test.go): type "LORA", tags, lora header.
	docUplinkLORA      = `{"params":{"rx_time":1669718927.7951567,"port":1,"duplicate":false,"radio":{"gps_time":1353754145752,"delay":0.05233168601989746,"datarate":0,"modulation":{"bandwidth":125000,"type":"LORA","spreading":12,"coderate":"4/5"},"hardware":{"status":1,"chain":0,"tmst":1918574140,"snr":-9.8,"rssi":-97,"channel":3,"gps":{"lat":-25.468379974365234,"lng":-49.30628967285156,"alt":954}},"time":1669718927.7951567,"freq":915.8,"size":48},"counter_up":6,"lora":{"header":{"class_b":false,"confirmed":false,"adr":true,"ack":false,"adr_ack_req":false,"version":0,"type":2},"mac_commands":[]},"payload":"eyJUIjoyMC44LCJVIjo5My40LCJDIjoxMH0=","encrypted_payload":"THVy2YePaE57oNspHz8inGaoZ24EldRNtz8="},"meta":{"network":"358b679dd88d47948f6e108677b4b79a","tags":["jvtech"],"packet_hash":"2d12d09d48669879a40f9779f12324a4","application":"6caabba5aa141e23","device_addr":"162a9521","time":1669718927.862,"device":"000516800011abf6","packet_id":"6e1735e722f0dd6835e9cd79bd8f740f","gateway":"b0fd0b7002640000"},"type":"uplink"}`
	docDownlinkRequest = `{"meta":{"network":"75697b95","packet_hash":"79f664df2c2073af798fa87497305d8d","application":"70b3d54b17db0106","device_addr":"36c365b4","time":1504806731.258602,"device":"faa73111a2aead2c","packet_id":"fdbb09021c4523d9f28bb815ca872c70","gateway":"7c95bd79864622a4","history":true},"type":"downlink_request","params":{"counter_down":71,"max_size":51,"tx_time":1504806733.249041}}`
	docJoinRequest     = `{"meta":{"network":"9e9bf02a","packet_hash":"adc6bcac0d06195bc0329c3ef6a2d6ea","application":"b3a1067cf7085309","time":1504638900.866375,"device":"8c30dd074be218cb","packet_id":"287f9555a3e8b000ffc8c3c50f60e309","gateway":"017e8cd996cd3a0e"},"params":{"dev_eui":"8c30dd074be218cb","dev_addr":"01d6dcd6","dev_nonce":"f9e7","net_id":"000000"},"type":"join_request"}`
	docStatus          = `{"meta":{"network":"1a3f34a3","packet_hash":"5e99eb9640ea76257911d3ebeb525b07","application":"64649e06824532c7","device_addr":"ac1ffea9","time":1504638907.180523,"device":"ba27356cb8a25961","packet_id":"1c87b507b5fa4ef0f610d7f1befd593d","gateway":"4adc2ea8e5a8fc8f"},"params":{"battery":254.0,"snr":20.0,"rx_time":1504638907.171101},"type":"status"}`
	docLocation        = `{"meta":{"packet_hash":"899e8989368abce7c62eb1342be086a5","org":"59bd2b1c61a6040008f6a110","time":1527533919.123981,"device":"6231384f96b377f7","application":"62982a08f8ae78cd"},"type":"location","params":{"solutions":[{"lat":51.50740,"lng":0.12780,"quality":1,"precision":1200,"method":"simple:moving"}]}}`
	docError           = `{"meta":{"network":"a0842237","packet_hash":"451d26187b5dbc94e12d040ae094b5e2","application":"b3a1067cf7085309","time":1504638860.752536,"device":"8c30dd074be218cb","packet_id":"9b34f5f1bf8a38ccff7589e30312bf67","gateway":"f5791b767ff5cf7a"},"type":"error","params":{"message":"Join request rejected. The same DEV_NONCE was processed before. Possible replay attack"}}`
	docWarning         = `{"meta":{"network":"75697b95","packet_hash":"79f664df2c2073af798fa87497305d8d","application":"70b3d54b17db0106","device_addr":"36c365b4","time":1504806731.754539,"device":"faa73111a2aead2c","packet_id":"fdbb09021c4523d9f28bb815ca872c70","gateway":"7c95bd79864622a4"},"type":"warning","params":{"message":"Requesting downlink message failed: application request timeout. Please check application availability."}}`
	docInfo            = `{"meta":{"network":"a5cd542d","packet_hash":"2ed8b2694a5e0c8e24e5bb2229124192","application":"0fbdac8884ed782b","time":1504699637.060622,"device":"51924777a6205c40","packet_id":"fc3d9d3550f3cc2419e718873f230e7b","gateway":"e576313d4513efc4"},"params":{"message":"Join request accepted"},"type":"info"}`
)

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig()
	good.URL, good.Token = "wss://ns.eu.everynet.io/api/v1.0/data", "t"
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	for _, tc := range []struct {
		name, want string
		mod        func(c *Config)
	}{
		{"no url", "everynet-url: required", func(c *Config) { c.URL = "" }},
		{"http scheme", "everynet-url: scheme", func(c *Config) { c.URL = "https://ns.eu.everynet.io" }},
		{"no host", "everynet-url: no host", func(c *Config) { c.URL = "wss:///api" }},
		{"no token", "everynet-token: required", func(c *Config) { c.Token = "" }},
		{"filter and types", "cannot be combined", func(c *Config) { c.Filter = "f1"; c.URL += "?devices=0102030405060708" }},
		{"bad type", "everynet-types", func(c *Config) { c.Types = []string{"uplink,x"} }},
		{"bad plan", "everynet-dr-plan", func(c *Config) { c.DataRatePlan = "eu433" }},
		{"zero ping", "ping-interval", func(c *Config) { c.PingInterval = 0 }},
		{"read below ping", "read-timeout", func(c *Config) { c.ReadTimeout = c.PingInterval }},
		{"backoff order", "max-backoff", func(c *Config) { c.MaxBackoff = c.MinBackoff / 2 }},
		{"dedup", "dedup-size", func(c *Config) { c.DedupSize = 0 }},
		{"queue", "max-queued", func(c *Config) { c.MaxQueued = 0 }},
		{"overlap", "replay-overlap", func(c *Config) { c.ReplayOverlap = -time.Second }},
		{"look-back", "max-look-back", func(c *Config) { c.MaxLookBack = c.ReplayOverlap }},
		{"save interval", "cursor-save-interval", func(c *Config) { c.CursorSaveInterval = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			err := c.Validate()
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
	// The token may come with the URL instead.
	c := good
	c.Token, c.URL = "", good.URL+"?access_token=abc"
	if err := c.Validate(); err != nil {
		t.Errorf("token in URL: %v", err)
	}
}

func TestDialURL(t *testing.T) {
	c := DefaultConfig()
	c.URL, c.Token = "wss://ns.eu.everynet.io", "tok&en"
	u, err := url.Parse(c.dialURL(0))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Path != "/api/v1.0/data" || q.Get("access_token") != "tok&en" || q.Get("radio") != "1" ||
		q.Get("types") != strings.Join(DefaultTypes(), ",") || q.Has("from_unixtime") {
		t.Errorf("dialURL(0) = %s", u)
	}
	u, _ = url.Parse(c.dialURL(1504806731.5))
	if got := u.Query().Get("from_unixtime"); got != "1504806731.500000" {
		t.Errorf("from_unixtime = %q", got)
	}
	// A stored filter replaces types; URL filters are kept.
	c.Filter = "abc"
	u, _ = url.Parse(c.dialURL(0))
	if u.Query().Has("types") || u.Query().Get("filter") != "abc" {
		t.Errorf("filter URL = %s", u)
	}
	c.Filter, c.URL = "", "wss://ns.atc.everynet.io/api/v1.0/data?devices=0102030405060708&types=uplink"
	u, _ = url.Parse(c.dialURL(0))
	if u.Query().Get("types") != "uplink" || u.Query().Get("devices") != "0102030405060708" {
		t.Errorf("URL filters not kept: %s", u)
	}
	if r := redact(c.dialURL(0)); strings.Contains(r, "tok%26en") || !strings.Contains(r, "access_token=REDACTED") {
		t.Errorf("redact = %s", r)
	}
}

func TestParseDatrAndDataRate(t *testing.T) {
	for _, tc := range []struct {
		plan, mod string
		sf, bw    int
		dr        uint8
		ok        bool
	}{
		{PlanEU868, "LORA", 12, 125000, 0, true},
		{PlanEU868, "LORA", 7, 125000, 5, true},
		{PlanEU868, "LORA", 7, 250000, 6, true},
		{PlanEU868, "FSK", 0, 0, 7, true},
		{PlanEU868, "LORA", 8, 500000, 0, false},
		{PlanEU868, "LORA", 13, 125000, 0, false},
		{PlanUS915, "LORA", 10, 125000, 0, true},
		{PlanUS915, "LORA", 7, 125000, 3, true},
		{PlanUS915, "LORA", 8, 500000, 4, true},
		{PlanUS915, "LORA", 12, 125000, 0, false},
		{PlanUS915, "FSK", 0, 0, 0, false},
		{PlanAU915, "LORA", 12, 125000, 0, true},
		{PlanAU915, "LORA", 8, 500000, 6, true},
		{PlanNone, "LORA", 7, 125000, 0, false},
	} {
		dr, ok := dataRate(tc.plan, tc.mod, tc.sf, tc.bw)
		if ok != tc.ok || ok && dr != tc.dr {
			t.Errorf("dataRate(%s, %s, SF%d, %d) = %d, %v; want %d, %v", tc.plan, tc.mod, tc.sf, tc.bw, dr, ok, tc.dr, tc.ok)
		}
	}
	for _, tc := range []struct {
		in     string
		sf, bw int
		ok     bool
	}{
		{"SF7BW125", 7, 125000, true}, {"sf12bw125", 12, 125000, true}, {"SF8BW500", 8, 500000, true},
		{"SF10BW62.5", 10, 62500, true}, {"BW125", 0, 0, false}, {"SF7", 0, 0, false}, {"SFxBW125", 0, 0, false},
		{"SF7BW0", 0, 0, false}, {"", 0, 0, false},
	} {
		sf, bw, ok := parseDatr(tc.in)
		if ok != tc.ok || ok && (sf != tc.sf || bw != tc.bw) {
			t.Errorf("parseDatr(%q) = %d, %d, %v", tc.in, sf, bw, ok)
		}
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withParams returns a copy of the radio uplink example with params fields
// replaced (nil deletes).
func withParams(t testing.TB, base string, set map[string]any) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(base), &m); err != nil {
		t.Fatal(err)
	}
	p := m["params"].(map[string]any)
	for k, v := range set {
		if v == nil {
			delete(p, k)
		} else {
			p[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestMapUplink(t *testing.T) {
	radioNoDatr := func(typ any, sf, bw int) map[string]any {
		return map[string]any{"freq": 868.3, "modulation": map[string]any{"type": typ, "spreading": sf, "bandwidth": bw}}
	}
	for _, tc := range []struct {
		name, msg, plan string
		want            store.Uplink
		err             error // sentinel
		field           string
	}{
		{name: "doc uplink without radio", msg: docUplinkNoRadio, plan: PlanEU868, want: store.Uplink{
			FCnt: 118, HasFCnt: true, Port: 55, HasPort: true, Payload: []byte("24cf08ad2da94fed9d6dbced930ac3f3"),
			Timestamp: 1504806725.245682}},
		{name: "doc uplink with radio, modulation type 0", msg: docUplinkRadio, plan: PlanEU868, want: store.Uplink{
			FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
			Freq: 868100000, HasFreq: true, DR: 0, HasDR: true, Timestamp: 1504806731.249041}},
		{name: "AU915 uplink, modulation type LORA", msg: docUplinkLORA, plan: PlanAU915, want: store.Uplink{
			FCnt: 6, HasFCnt: true, Port: 1, HasPort: true, Payload: []byte(`{"T":20.8,"U":93.4,"C":10}`),
			Freq: 915800000, HasFreq: true, DR: 0, HasDR: true, Timestamp: 1669718927.7951567}},
		{name: "SF12 is no US915 uplink rate", msg: docUplinkLORA, plan: PlanUS915, want: store.Uplink{
			FCnt: 6, HasFCnt: true, Port: 1, HasPort: true, Payload: []byte(`{"T":20.8,"U":93.4,"C":10}`),
			Freq: 915800000, HasFreq: true, Timestamp: 1669718927.7951567}},
		{name: "datr string wins", plan: PlanEU868,
			msg: withParams(t, docUplinkRadio, map[string]any{"radio": map[string]any{"freq": 867.5, "datr": "SF7BW125",
				"modulation": map[string]any{"type": "LORA", "spreading": 12, "bandwidth": 125000}}}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Freq: 867500000, HasFreq: true, DR: 5, HasDR: true, Timestamp: 1504806731.249041}},
		{name: "type LORA equals type 0", plan: PlanEU868,
			msg: withParams(t, docUplinkRadio, map[string]any{"radio": radioNoDatr("LORA", 9, 125000)}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Freq: 868300000, HasFreq: true, DR: 3, HasDR: true, Timestamp: 1504806731.249041}},
		{name: "bandwidth in kHz", plan: PlanEU868,
			msg: withParams(t, docUplinkRadio, map[string]any{"radio": radioNoDatr(0, 7, 250)}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Freq: 868300000, HasFreq: true, DR: 6, HasDR: true, Timestamp: 1504806731.249041}},
		{name: "FSK", plan: PlanEU868,
			msg: withParams(t, docUplinkRadio, map[string]any{"radio": map[string]any{"freq": 868.8, "modulation": map[string]any{"type": "FSK"}}}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Freq: 868800000, HasFreq: true, DR: 7, HasDR: true, Timestamp: 1504806731.249041}},
		{name: "unknown modulation: no dr", plan: PlanEU868,
			msg: withParams(t, docUplinkRadio, map[string]any{"radio": radioNoDatr("CHIRP", 7, 125000)}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Freq: 868300000, HasFreq: true, Timestamp: 1504806731.249041}},
		{name: "malformed radio is ignored", plan: PlanEU868,
			msg: withParams(t, docUplinkRadio, map[string]any{"radio": map[string]any{"freq": "868.1"}}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Timestamp: 1504806731.249041}},
		{name: "no rx_time: radio.time", plan: PlanNone,
			msg: withParams(t, docUplinkRadio, map[string]any{"rx_time": nil, "radio": map[string]any{"time": 1504806731.5}}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Timestamp: 1504806731.5}},
		{name: "no rx_time, no radio: meta.time", plan: PlanNone,
			msg: withParams(t, docUplinkRadio, map[string]any{"rx_time": nil, "radio": nil}),
			want: store.Uplink{FCnt: 120, HasFCnt: true, Port: 27, HasPort: true, Payload: []byte("da09872b86e84b8088c6f1e8f396eb85"),
				Timestamp: 1504806731.256388}},
		{name: "port 0: MAC only, a downlink opportunity", plan: PlanNone,
			msg:  withParams(t, docUplinkNoRadio, map[string]any{"port": 0}),
			want: store.Uplink{FCnt: 118, HasFCnt: true, Timestamp: 1504806725.245682}},
		{name: "reserved port", plan: PlanNone,
			msg:  withParams(t, docUplinkNoRadio, map[string]any{"port": 224}),
			want: store.Uplink{FCnt: 118, HasFCnt: true, Timestamp: 1504806725.245682}},
		{name: "no payload at all", plan: PlanNone,
			msg:  withParams(t, docUplinkNoRadio, map[string]any{"payload": nil, "encrypted_payload": nil}),
			want: store.Uplink{FCnt: 118, HasFCnt: true, Port: 55, HasPort: true, Timestamp: 1504806725.245682}},
		{name: "encrypted only", msg: withParams(t, docUplinkNoRadio, map[string]any{"payload": nil}), err: errEncrypted},
		{name: "gateway duplicate", msg: withParams(t, docUplinkNoRadio, map[string]any{"duplicate": true}), err: errDuplicateCopy},
		{name: "invalid base64 (doc example)", msg: withParams(t, docUplinkNoRadio, map[string]any{"payload": "a0f1hh"}),
			err: ErrBase64, field: "params.payload"},
		{name: "hex instead of base64 (doc example)", msg: withParams(t, docUplinkNoRadio, map[string]any{"payload": "220de733f4"}),
			err: ErrBase64, field: "params.payload"},
		{name: "missing counter_up", msg: withParams(t, docUplinkNoRadio, map[string]any{"counter_up": nil}),
			err: ErrMissing, field: "params.counter_up"},
		{name: "negative counter_up", msg: withParams(t, docUplinkNoRadio, map[string]any{"counter_up": -1}),
			err: ErrRange, field: "params.counter_up"},
		{name: "counter_up too big", msg: withParams(t, docUplinkNoRadio, map[string]any{"counter_up": 1 << 32}),
			err: ErrRange, field: "params.counter_up"},
		{name: "port out of range", msg: withParams(t, docUplinkNoRadio, map[string]any{"port": 256}),
			err: ErrRange, field: "params.port"},
		{name: "port as string", msg: withParams(t, docUplinkNoRadio, map[string]any{"port": "55"}),
			err: ErrType, field: "params.port"},
		{name: "no params", msg: `{"type":"uplink","meta":{"device":"faa73111a2aead2c","packet_hash":"x"}}`,
			err: ErrMissing, field: "params"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMessage([]byte(tc.msg))
			if err != nil {
				t.Fatalf("parseMessage: %v", err)
			}
			got, _, err := mapUplink(m, tc.plan)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				var fe *FieldError
				if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
					t.Fatalf("err = %v, want field %s", err, tc.field)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("uplink (-want +got):\n%s", d)
			}
			if err := uplink.Validate(&got); err != nil {
				t.Errorf("the pipeline rejects the mapped uplink: %v", err)
			}
		})
	}
}

func TestParseMessageErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, field, hash string
	}{
		{"not JSON", `{"type":`, "json", ""},
		{"array", `[1,2]`, "json", ""},
		{"no type", `{"meta":{"packet_hash":"h1"}}`, "type", "h1"},
		{"type not a string", `{"type":7,"meta":{"packet_hash":"h2"}}`, "type", "h2"},
		{"no meta", `{"type":"uplink","params":{}}`, "meta", ""},
		{"meta not an object", `{"type":"uplink","meta":"x"}`, "meta", ""},
		{"hash not a string", `{"type":"uplink","meta":{"packet_hash":5}}`, "meta.packet_hash", ""},
		{"bad device", `{"type":"uplink","meta":{"packet_hash":"h3","device":"zz"}}`, "meta.device", "h3"},
		{"device not a string", `{"type":"uplink","meta":{"packet_hash":"h4","device":12}}`, "meta.device", "h4"},
		{"time not a number", `{"type":"uplink","meta":{"packet_hash":"h5","time":"now"}}`, "meta.time", "h5"},
		{"negative time", `{"type":"uplink","meta":{"packet_hash":"h6","time":-1}}`, "meta.time", "h6"},
		{"history not a bool", `{"type":"uplink","meta":{"packet_hash":"h7","history":"yes"}}`, "meta.history", "h7"},
		{"params not an object", `{"type":"uplink","meta":{"packet_hash":"h8"},"params":[1]}`, "params", "h8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseMessage([]byte(tc.in))
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("err = %v, want field %s", err, tc.field)
			}
			if m.PacketHash != tc.hash {
				t.Errorf("packet hash = %q, want %q (for the log)", m.PacketHash, tc.hash)
			}
		})
	}
	// Every documented message parses, with its meta.
	for _, doc := range []string{docUplinkNoRadio, docUplinkRadio, docUplinkLORA, docDownlinkRequest, docJoinRequest,
		docStatus, docLocation, docError, docWarning, docInfo} {
		m, err := parseMessage([]byte(doc))
		if err != nil || !m.HasDevice || m.PacketHash == "" || m.Time == 0 || m.Meta == nil {
			t.Errorf("parseMessage(%.40s...) = %+v, %v", doc, m, err)
		}
	}
}

func TestDownlinkResponseShape(t *testing.T) {
	m, err := parseMessage([]byte(docDownlinkRequest))
	if err != nil {
		t.Fatal(err)
	}
	req, err := parseDownlinkRequest(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := downlinkResponse(m, req, &store.Dnlink{Port: 199, Payload: []byte{0, 0, 3, 3, 4, 15}}, false, false)
	if err != nil {
		t.Fatal(err)
	}
	var got, wantMeta map[string]any
	json.Unmarshal(b, &got)
	json.Unmarshal(m.Meta, &wantMeta)
	want := map[string]any{"type": "downlink_response", "meta": wantMeta,
		"params": map[string]any{"port": 199.0, "payload": "AAADAwQP", "counter_down": 71.0}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("downlink_response (-want +got):\n%s", d)
	}
	b, _ = downlinkResponse(m, downlinkRequestParams{}, &store.Dnlink{Port: 2, Payload: []byte{1}}, true, true)
	got = nil
	json.Unmarshal(b, &got)
	if d := cmp.Diff(map[string]any{"port": 2.0, "payload": "AQ==", "pending": true, "queue_if_late": true}, got["params"]); d != "" {
		t.Errorf("params with flags, no counter_down (-want +got):\n%s", d)
	}
	for _, tc := range []struct{ params, field string }{
		{`{"counter_down":-1}`, "params.counter_down"},
		{`{"counter_down":"71"}`, "params.counter_down"},
		{`{"max_size":300}`, "params.max_size"},
	} {
		m.Params = json.RawMessage(tc.params)
		var fe *FieldError
		if _, err := parseDownlinkRequest(m); !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("parseDownlinkRequest(%s) = %v, want field %s", tc.params, err, tc.field)
		}
	}
}

func TestDownlinkClaimShape(t *testing.T) {
	b, err := downlinkClaim(lora.MustParseEUI64("ba27356cb8a25961"), "1a3f34a3")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	json.Unmarshal(b, &got)
	want := map[string]any{"type": "downlink_claim", "meta": map[string]any{"device": "ba27356cb8a25961", "network": "1a3f34a3"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("downlink_claim (-want +got):\n%s", d)
	}
}

// seedDownlink returns the downlink example of seed 001, or skips.
func seedDownlink(t testing.TB) []byte {
	t.Helper()
	b := sharedtest.ReadFile(t, "seeds", "001_24752b1c3b1ea991.txt")
	_, ex, ok := strings.Cut(string(b), "\nExample\n")
	if !ok {
		t.Fatal("seed 001: no Example section")
	}
	return []byte(ex)
}

func TestSeedDownlinkNotification(t *testing.T) {
	m, err := parseMessage(seedDownlink(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != typeDownlink || m.Device != lora.MustParseEUI64("faa73111a2aead2c") ||
		m.PacketHash != "79f664df2c2073af798fa87497305d8d" || m.Network != "75697b95" || !m.History || m.Time != 1504806731.759066 {
		t.Errorf("meta = %+v", m)
	}
	n, err := parseDownlink(m)
	if err != nil {
		t.Fatal(err)
	}
	// The seed's payload is a whole MAC-only PHYPayload reported on port 0.
	want := notification{Port: 0, CounterDown: 71, HasPayload: true,
		Payload: mustHex(t, "60 b4 65 c3 36 87 47 00 04 00 05 00 d2 ad 84 14 7b 7b 34")}
	if d := cmp.Diff(want, n, cmp.AllowUnexported(notification{})); d != "" {
		t.Errorf("notification (-want +got):\n%s", d)
	}
}

func TestJoiningUplink(t *testing.T) {
	m, err := parseMessage([]byte(docJoinRequest))
	if err != nil {
		t.Fatal(err)
	}
	u, _ := joiningUplink(m, PlanEU868)
	if d := cmp.Diff(store.Uplink{Type: store.MsgJoining, Timestamp: 1504638900.866375}, u); d != "" {
		t.Errorf("joining (-want +got):\n%s", d)
	}
	if err := uplink.Validate(&u); err != nil {
		t.Error(err)
	}
}

func TestDedup(t *testing.T) {
	d := newDedup(3)
	for _, k := range []string{"a", "b", "c"} {
		if !d.add(k) {
			t.Fatalf("add(%s) not new", k)
		}
	}
	if d.add("a") {
		t.Fatal("a seen twice")
	}
	d.add("d") // evicts a
	if !d.add("a") {
		t.Fatal("a not evicted")
	}
	// forget then add again: the key owns its new slot, eviction of the
	// old slot must not drop it.
	d2 := newDedup(2)
	d2.add("x")
	d2.forget("x")
	d2.add("y")
	d2.add("x") // slot 0 again (ring wrapped): owns it
	d2.add("z") // evicts y (slot 1)
	if d2.add("x") {
		t.Fatal("x forgotten too early")
	}
	if d2.len() != 2 {
		t.Fatalf("len = %d", d2.len())
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{docUplinkNoRadio, docUplinkRadio, docUplinkLORA, docDownlinkRequest, docJoinRequest,
		docStatus, docLocation, docError, docWarning, docInfo, `{"type":"downlink","meta":{},"params":{"payload":"AA=="}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMessage(data)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			return
		}
		// Whatever the mapping accepts, the pipeline accepts.
		if u, _, err := mapUplink(m, PlanEU868); err == nil {
			if err := uplink.Validate(&u); err != nil {
				t.Fatalf("mapped uplink %+v rejected: %v", u, err)
			}
		}
		if u, _ := joiningUplink(m, PlanUS915); uplink.Validate(&u) != nil {
			t.Fatalf("joining %+v rejected", u)
		}
		if req, err := parseDownlinkRequest(m); err == nil {
			b, err := downlinkResponse(m, req, &store.Dnlink{Port: 1, Payload: []byte{1}}, false, false)
			if err != nil || !json.Valid(b) {
				t.Fatalf("response %q, %v", b, err)
			}
		}
		parseDownlink(m)
	})
}

func BenchmarkParseMapUplink(b *testing.B) {
	data := []byte(docUplinkRadio)
	b.ReportAllocs()
	for b.Loop() {
		m, err := parseMessage(data)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := mapUplink(m, PlanEU868); err != nil {
			b.Fatal(err)
		}
	}
}
