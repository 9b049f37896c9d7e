package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/openmgs/openmgs/server"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store/boltstore"
	"github.com/openmgs/openmgs/uplink"
)

// FuzzRequestBodies feeds arbitrary bodies to the decoding endpoints: the
// answer is always the JSON envelope, never a panic or a 500, and a 400
// always names something in "errors".
func FuzzRequestBodies(f *testing.F) {
	for _, s := range []string{
		`{"01-02-03-04-05-06-07-08":{"msgtype":"updf","fcnt":42,"port":199,"payload":"0304","dr":4,"freq":865000000,"timestamp":100}}`,
		`{"deveui":"01-02-03-04-05-06-07-08","uplink":{"msgtype":"updf","fcnt":10,"port":2,"dr":1,"freq":868100000,"timestamp":12345.0,"payload":""}}`,
		`{"deveuis":["00-00-00-00-00-00-00-00"],"requests":[{"type":"RESET","param":3}],"upcount":1,"updelay":20}`,
		`{"0102030405060708":{"msgtype":"gnss","payload":"00","gnss_assist_position":[1,2]}}`,
		`{"a":`, `[]`, `null`, ``, "{\"\u00e9\": 1}",
	} {
		for _, p := range []uint8{0, 1, 2} {
			f.Add(s, p)
		}
	}
	db, err := boltstore.Open(filepath.Join(f.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	api, err := httpapi.New(httpapi.Options{Modem: server.NewModem(uplink.New(db, uplink.Config{}), nil)})
	if err != nil {
		f.Fatal(err)
	}
	paths := []string{"/api/v1/uplink/send", "/api/v1/device/send", "/api/v1/requests/set"}
	f.Fuzz(func(t *testing.T, body string, p uint8) {
		req := httptest.NewRequestWithContext(context.Background(), http.MethodPost, paths[int(p)%len(paths)], bytes.NewReader([]byte(body)))
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
		var env struct {
			Result json.RawMessage `json:"result"`
			Errors []string        `json:"errors"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil {
			t.Fatalf("not JSON: %v: %s", err, w.Body)
		}
		if (w.Code == http.StatusOK) != (len(env.Errors) == 0) {
			t.Fatalf("status %d with errors %q", w.Code, env.Errors)
		}
	})
}
