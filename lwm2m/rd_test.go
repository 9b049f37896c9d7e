package lwm2m_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"

	"github.com/openmgs/openmgs/fleet"
	"github.com/openmgs/openmgs/lwm2m"
)

func dialRaw(t *testing.T, addr string) *udpClient.Conn {
	t.Helper()
	cc, err := udp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

type reqSpec struct {
	method  codes.Code
	path    string
	queries []string
	cf      message.MediaType
	body    string
	noCF    bool
}

func do(t *testing.T, cc *udpClient.Conn, r reqSpec) (codes.Code, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var req *pool.Message
	var err error
	switch r.method {
	case codes.GET:
		req, err = cc.NewGetRequest(ctx, r.path)
	case codes.DELETE:
		req, err = cc.NewDeleteRequest(ctx, r.path)
	case codes.PUT:
		req, err = cc.NewPutRequest(ctx, r.path, r.cf, strings.NewReader(r.body))
	default:
		req, err = cc.NewPostRequest(ctx, r.path, r.cf, strings.NewReader(r.body))
	}
	if err != nil {
		t.Fatal(err)
	}
	defer cc.ReleaseMessage(req)
	if r.noCF {
		req.Remove(message.ContentFormat)
	}
	for _, q := range r.queries {
		req.AddQuery(q)
	}
	resp, err := cc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.ReleaseMessage(resp)
	body, _ := resp.ReadBody()
	return resp.Code(), string(body)
}

const links = `</>;rt="oma.lwm2m",</3/0>,</19/0>`

// TestRegistrationErrors: every malformed or refused registration gets
// its CoAP error code and a diagnostic, is logged, and nothing is stored.
func TestRegistrationErrors(t *testing.T) {
	e := newEnv(t, envOpts{policy: fleet.PolicyReject})
	if _, err := e.fleet.Provision(context.Background(), fleet.Endpoint{Name: "866971030001361"}, "", nil); err != nil {
		t.Fatal(err)
	}
	cc := dialRaw(t, e.addr)
	ok := []string{"lwm2m=1.0", "ep=866971030001361", "b=U", "lt=300"}
	without := func(k string) []string {
		var out []string
		for _, q := range ok {
			if !strings.HasPrefix(q, k+"=") {
				out = append(out, q)
			}
		}
		return out
	}
	with := func(kv ...string) []string { return append(without(strings.Split(kv[0], "=")[0]), kv...) }
	lf := message.AppLinkFormat
	cases := []struct {
		name string
		req  reqSpec
		code codes.Code
		diag string
	}{
		{"no ep", reqSpec{codes.POST, "/rd", without("ep"), lf, links, false}, codes.BadRequest, "ep="},
		{"empty ep", reqSpec{codes.POST, "/rd", with("ep="), lf, links, false}, codes.BadRequest, "ep="},
		{"lt zero", reqSpec{codes.POST, "/rd", with("lt=0"), lf, links, false}, codes.BadRequest, "lt="},
		{"lt text", reqSpec{codes.POST, "/rd", with("lt=soon"), lf, links, false}, codes.BadRequest, "lt="},
		{"binding SMS only", reqSpec{codes.POST, "/rd", with("b=S"), lf, links, false}, codes.BadRequest, "binding must include U"},
		{"binding junk", reqSpec{codes.POST, "/rd", with("b=UX"), lf, links, false}, codes.BadRequest, "unknown binding"},
		{"duplicate query", reqSpec{codes.POST, "/rd", append(ok, "lt=60"), lf, links, false}, codes.BadRequest, "twice"},
		{"bad link-format", reqSpec{codes.POST, "/rd", ok, lf, `</3/0>,<19/0`, false}, codes.BadRequest, "link-format"},
		{"no links", reqSpec{codes.POST, "/rd", ok, lf, ``, false}, codes.BadRequest, "no object links"},
		{"JSON body", reqSpec{codes.POST, "/rd", ok, message.AppJSON, `{}`, false}, codes.UnsupportedMediaType, "link-format"},
		{"version", reqSpec{codes.POST, "/rd", with("lwm2m=9.9"), lf, links, false}, codes.PreconditionFailed, "9.9"},
		{"unprovisioned (reject policy)", reqSpec{codes.POST, "/rd", with("ep=867723030005655"), lf, links, false}, codes.Forbidden, "not provisioned"},
		{"bad endpoint name", reqSpec{codes.POST, "/rd", with("ep=a b"), lf, links, false}, codes.BadRequest, "endpoint name"},
		{"GET /rd", reqSpec{codes.GET, "/rd", nil, 0, "", false}, codes.MethodNotAllowed, "only POST"},
		{"PUT /rd/x", reqSpec{codes.PUT, "/rd/x", nil, lf, "", false}, codes.MethodNotAllowed, "only POST"},
		{"unknown path", reqSpec{codes.POST, "/bs", ok, lf, links, false}, codes.NotFound, "no resource"},
		{"unknown deep path", reqSpec{codes.GET, "/19/0/0", nil, 0, "", false}, codes.NotFound, "no resource"},
		{"update unknown", reqSpec{codes.POST, "/rd/nope", nil, lf, "", false}, codes.NotFound, "no registration"},
		{"delete unknown", reqSpec{codes.DELETE, "/rd/nope", nil, 0, "", false}, codes.NotFound, "no registration"},
	}
	for _, tc := range cases {
		code, diag := do(t, cc, tc.req)
		if code != tc.code || !strings.Contains(diag, tc.diag) {
			t.Errorf("%s: %v %q, want %v with %q", tc.name, code, diag, tc.code, tc.diag)
		}
	}
	if st := e.srv.Status(); st.Registrations != 0 || st.Registers != 0 || st.Rejected != uint64(len(cases)) {
		t.Fatalf("status %+v", st)
	}
	if n := strings.Count(e.logs.String(), "coap request rejected"); n != len(cases) {
		t.Fatalf("%d rejections logged, want %d", n, len(cases))
	}
	if err := e.db.Table(lwm2m.TableName).Range(context.Background(), nil, func(k, _ []byte, _ uint64) error {
		t.Errorf("stored %x", k)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The provisioned endpoint registers (link-format with text/plain or
	// without a content format, as some clients send it, is accepted).
	code, _ := do(t, cc, reqSpec{codes.POST, "/rd", ok, message.TextPlain, links, false})
	if code != codes.Created {
		t.Fatalf("provisioned register: %v", code)
	}
	code, _ = do(t, cc, reqSpec{codes.POST, "/rd", with("ep=urn:imei:866971030001361"), 0, links, true})
	if code != codes.Created {
		t.Fatalf("URN alias register without content format: %v", code)
	}
	if n := e.srv.Status().Registrations; n != 1 {
		t.Fatalf("%d registrations, want 1 (same device)", n)
	}
	regs := e.srv.Registrations()
	if len(regs) != 1 || regs[0].Endpoint != "urn:imei:866971030001361" || regs[0].Lifetime != 300*time.Second {
		t.Fatalf("registrations %+v", regs)
	}
	// Update with a new lifetime and binding; lifetimes are clamped.
	code, _ = do(t, cc, reqSpec{codes.POST, "/rd/" + regs[0].ID, []string{"lt=99999999", "b=UQ"}, 0, "", true})
	if code != codes.Changed {
		t.Fatalf("update: %v", code)
	}
	r, _ := e.srv.Registration(regs[0].EUI)
	if r.Lifetime != 30*24*time.Hour || r.Binding != "UQ" {
		t.Fatalf("after update %+v", r)
	}
	code, diag := do(t, cc, reqSpec{codes.POST, "/rd/" + regs[0].ID, []string{"b=Z"}, 0, "", true})
	if code != codes.BadRequest || !strings.Contains(diag, "binding") {
		t.Fatalf("bad update: %v %q", code, diag)
	}
	// Unprovisioning makes the next update fail, so the device registers
	// again and is refused.
	if err := e.fleet.Unprovision(context.Background(), "866971030001361"); err != nil {
		t.Fatal(err)
	}
	code, _ = do(t, cc, reqSpec{codes.POST, "/rd/" + regs[0].ID, nil, 0, "", true})
	if code != codes.NotFound {
		t.Fatalf("update after unprovisioning: %v, want 4.04", code)
	}
	if n := e.srv.Status().Registrations; n != 0 {
		t.Fatalf("%d registrations after unprovisioning", n)
	}
}

// TestUnmappableEndpoint: under the map policy a name that is not an IMEI
// is refused unless provisioned.
func TestUnmappableEndpoint(t *testing.T) {
	e := newEnv(t, envOpts{})
	cc := dialRaw(t, e.addr)
	code, diag := do(t, cc, reqSpec{codes.POST, "/rd", []string{"ep=sensor-1", "lt=60"}, message.AppLinkFormat, links, false})
	if code != codes.Forbidden || !strings.Contains(diag, "no default mapping") {
		t.Fatalf("unmappable: %v %q", code, diag)
	}
	code, diag = do(t, cc, reqSpec{codes.POST, "/rd", []string{"ep=867723030005656", "lt=60"}, message.AppLinkFormat, links, false})
	if code != codes.Forbidden || !strings.Contains(diag, "check digit") {
		t.Fatalf("bad check digit: %v %q", code, diag)
	}
}
