package lwm2m_test

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// coapClient finds libcoap's coap-client (Debian package libcoap3-bin).
func coapClient(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"coap-client-notls", "coap-client"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("libcoap coap-client not installed (apt-get install libcoap3-bin)")
	return ""
}

// TestCoapClient cross-checks registration and the error paths with an
// independent CoAP implementation. coap-client is one-shot: it cannot
// answer the observe, so only the registration interface is exercised.
func TestCoapClient(t *testing.T) {
	bin := coapClient(t)
	e := newEnv(t, envOpts{})
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, append([]string{"-v", "6", "-B", "3"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("coap-client %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The response line, e.g. "v:1 t:ACK c:2.01 i:0fe7 {01} [ Location-Path:rd, ... ]".
	resp := regexp.MustCompile(`t:ACK c:(\d\.\d\d) [^\n]*`)
	code := func(out string) (string, string) {
		m := resp.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no ACK in coap-client output:\n%s", out)
		}
		return m[1], m[0]
	}
	base := "coap://" + e.addr
	lf := `</>;rt="oma.lwm2m",</3/0>,</19/0>`

	out := run("-m", "post", "-t", "40", "-e", lf, base+"/rd?ep=867723030005655&lt=300&b=U&lwm2m=1.0")
	c, line := code(out)
	loc := regexp.MustCompile(`Location-Path:rd, Location-Path:([0-9a-v]+)`).FindStringSubmatch(line)
	if c != "2.01" || loc == nil {
		t.Fatalf("register: %s", line)
	}
	eui := mustEUI(t, "867723030005655")
	if r, ok := e.srv.Registration(eui); !ok || r.ID != loc[1] || r.Lifetime != 300*time.Second {
		t.Fatalf("registration %+v", r)
	}
	if c, line := code(run("-m", "post", base+"/rd/"+loc[1]+"?lt=600")); c != "2.04" {
		t.Fatalf("update: %s", line)
	}
	if r, _ := e.srv.Registration(eui); r.Lifetime != 600*time.Second {
		t.Fatalf("update did not change lt: %+v", r)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no ep", []string{"-m", "post", "-t", "40", "-e", lf, base + "/rd?lt=300&b=U"}, "4.00"},
		{"bad link-format", []string{"-m", "post", "-t", "40", "-e", "</3/0", base + "/rd?ep=867723030005655"}, "4.00"},
		{"bad lifetime", []string{"-m", "post", "-t", "40", "-e", lf, base + "/rd?ep=867723030005655&lt=-5"}, "4.00"},
		{"json body", []string{"-m", "post", "-t", "50", "-e", "{}", base + "/rd?ep=867723030005655"}, "4.15"},
		{"unmappable endpoint", []string{"-m", "post", "-t", "40", "-e", lf, base + "/rd?ep=sensor"}, "4.03"},
		{"unknown path", []string{"-m", "post", base + "/foo"}, "4.04"},
		{"GET /rd", []string{"-m", "get", base + "/rd"}, "4.05"},
		{"unknown registration", []string{"-m", "delete", base + "/rd/nope"}, "4.04"},
	} {
		if c, line := code(run(tc.args...)); c != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, line, tc.want)
		}
	}
	if c, line := code(run("-m", "delete", base+"/rd/"+loc[1])); c != "2.02" {
		t.Fatalf("de-register: %s", line)
	}
	if _, ok := e.srv.Registration(eui); ok {
		t.Fatal("registered after DELETE")
	}
	if !strings.Contains(e.logs.String(), "coap request rejected") {
		t.Fatal("rejections not logged")
	}
}
