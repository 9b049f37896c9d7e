package httpapi

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

func TestJSONPathAt(t *testing.T) {
	doc := `{"a": 1, "b": {"c": [10, {"d": "x"}, [true]]}, "e": null}`
	for _, tc := range []struct {
		at   string // substring whose first byte is the offset
		want string
	}{
		{`"a"`, "a"}, {`1,`, "a"}, {`"b"`, "b"}, {`{"c"`, "b"}, {`"c"`, "b.c"}, {`[10`, "b.c"}, {`10`, "b.c[0]"},
		{`"d"`, "b.c[1].d"}, {`"x"`, "b.c[1].d"}, {`true`, "b.c[2][0]"}, {`null`, "e"},
	} {
		off := indexOf(doc, tc.at)
		if got := jsonPathAt([]byte(doc), off); got != tc.want {
			t.Errorf("at %q (offset %d): %q, want %q", tc.at, off, got, tc.want)
		}
	}
}

func indexOf(s, sub string) int {
	for i := range len(s) - len(sub) + 1 {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func TestProtoErrNamesTheField(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"{\n  \"deveuis\": \"0102\"\n}", "deveuis: "},
		{`{"deveuis": ["01", 2]}`, "deveuis[1]: "},
		{`{"requests": [{"type": "RESET", "extra": 1}]}`, "requests[0].extra: "},
		{`{"upcount": "many"}`, "upcount: "},
		{`{"deveuis": ["é", 2]}`, "deveuis[1]: "},
	} {
		err := protojson.Unmarshal([]byte(tc.body), &mgsv1.AddRequestsRequest{})
		if err == nil {
			t.Fatalf("%s decoded", tc.body)
		}
		var ae *apiError
		if e := protoErr("", "body", []byte(tc.body), err); !errors.As(e, &ae) || len(ae.msg) < len(tc.want) || ae.msg[:len(tc.want)] != tc.want {
			t.Errorf("%s: %v, want prefix %q", tc.body, e, tc.want)
		}
	}
}

func FuzzJSONPathAt(f *testing.F) {
	f.Add(`{"a": [1, {"b": 2}]}`, 7)
	f.Add(`[[[`, 2)
	f.Add(`{"a" 1}`, 5)
	f.Fuzz(func(t *testing.T, doc string, off int) {
		jsonPathAt([]byte(doc), off) // must not panic
		fieldOfProtoErr([]byte(doc), "(line 3:99)")
	})
}
