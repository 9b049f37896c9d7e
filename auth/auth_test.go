package auth_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/store/boltstore"
)

func openStore(t *testing.T) (store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mgs.db")
	db, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func newAuth(t *testing.T, s store.Store, o auth.Options) *auth.Authenticator {
	t.Helper()
	a, err := auth.New(context.Background(), s, o)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParseCaps(t *testing.T) {
	for _, tc := range []struct {
		in    []string
		want  auth.Caps
		field string
	}{
		{[]string{"read"}, auth.Caps(auth.CapRead), ""},
		{[]string{"READ", " uplink ", "read"}, auth.Caps(auth.CapRead | auth.CapUplink), ""},
		{[]string{"admin"}, auth.Caps(auth.CapAdmin), ""},
		{nil, 0, "capabilities"},
		{[]string{"read", "write"}, 0, "capabilities[1]"},
	} {
		got, err := auth.ParseCaps(tc.in)
		var ie *auth.InputError
		switch {
		case tc.field != "":
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("ParseCaps(%q): err %v, want field %s", tc.in, err, tc.field)
			}
		case err != nil || got != tc.want:
			t.Errorf("ParseCaps(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	if !auth.Caps(auth.CapAdmin).Has(auth.CapUplink) || auth.Caps(auth.CapRead).Has(auth.CapUplink) {
		t.Fatal("Has: admin must imply every capability, read must not imply uplink")
	}
	if got := auth.Caps(auth.CapUplink | auth.CapRead).Names(); !cmp.Equal(got, []string{"read", "uplink"}) {
		t.Fatalf("Names = %q", got)
	}
}

func TestOpenModeAndStaticTokens(t *testing.T) {
	s, _ := openStore(t)
	open := newAuth(t, s, auth.Options{AllowOpen: true})
	for _, tok := range []string{"", "anything"} {
		p, err := open.Check(tok)
		if err != nil || !p.Anonymous || !p.Can(auth.CapAdmin) {
			t.Fatalf("open mode Check(%q) = %+v, %v", tok, p, err)
		}
	}
	closed := newAuth(t, s, auth.Options{})
	if _, err := closed.Check("anything"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("no tokens, not open: %v", err)
	}
	st := newAuth(t, s, auth.Options{Static: []string{"foobar", " ", "foobar", "second"}, AllowOpen: true})
	if st.Open() || st.Count() != 2 {
		t.Fatalf("static: open %v count %d", st.Open(), st.Count())
	}
	p, err := st.Check("foobar")
	if err != nil || !p.Static || !p.Can(auth.CapAdmin) || p.ID != "static-1" {
		t.Fatalf("static Check = %+v, %v", p, err)
	}
	if _, err := st.Check(""); !errors.Is(err, auth.ErrMissing) {
		t.Fatalf("empty token: %v", err)
	}
	if _, err := st.Check("foobaz"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("wrong token: %v", err)
	}
	if _, err := st.Remove(context.Background(), "static-1"); !errors.Is(err, auth.ErrStatic) {
		t.Fatalf("remove static: %v", err)
	}
}

func TestTokenLifecycle(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a := newAuth(t, s, auth.Options{AllowOpen: true})

	// The first token must be an admin token, or tokens could no longer be managed.
	if _, err := a.Add(ctx, "reader", []string{"read"}); !errors.Is(err, auth.ErrLastAdmin) {
		t.Fatalf("first token read-only: %v", err)
	}
	adm, err := a.Add(ctx, "ops", []string{"admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(adm.Token, auth.TokenPrefix) || len(adm.Token) != len(auth.TokenPrefix)+43 || len(adm.ID) != 16 {
		t.Fatalf("issued token %+v", adm)
	}
	if a.Open() {
		t.Fatal("still open after the first token")
	}
	rd, err := a.Add(ctx, "dashboard", []string{"read"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Check(rd.Token)
	if err != nil || p.Name != "dashboard" || p.Can(auth.CapUplink) || !p.Can(auth.CapRead) {
		t.Fatalf("Check(read token) = %+v, %v", p, err)
	}
	if err := p.Require(auth.CapUplink); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("Require(uplink) = %v", err)
	}

	// Secrets are never stored: the table holds SHA-256 keys and no secret.
	n := 0
	err = s.Table(auth.TableTokens).Range(ctx, nil, func(key, value []byte, _ uint64) error {
		n++
		if bytes.Contains(value, []byte(adm.Token)) || bytes.Contains(value, []byte(rd.Token)) {
			t.Errorf("secret stored in %s", value)
		}
		if h := sha256.Sum256([]byte(adm.Token)); bytes.Equal(key, h[:]) && !bytes.Contains(value, []byte(`"ops"`)) {
			t.Errorf("admin record %s", value)
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("table: %d records, %v", n, err)
	}

	list := a.List()
	if len(list) != 2 || list[0].Token != "" || list[1].Name != "dashboard" || !cmp.Equal(list[1].Capabilities, []string{"read"}) {
		t.Fatalf("List = %+v", list)
	}
	if g, err := a.Get(rd.ID); err != nil || g.Name != "dashboard" {
		t.Fatalf("Get(id) = %+v, %v", g, err)
	}
	if g, err := a.Get(rd.Token); err != nil || g.ID != rd.ID {
		t.Fatalf("Get(secret) = %+v, %v", g, err)
	}

	// Rename keeps the secret; renew replaces it.
	u, err := a.Update(ctx, rd.ID, "wallboard", false)
	if err != nil || u.Token != "" || u.Name != "wallboard" {
		t.Fatalf("rename = %+v, %v", u, err)
	}
	if p, err := a.Check(rd.Token); err != nil || p.Name != "wallboard" {
		t.Fatalf("after rename: %+v, %v", p, err)
	}
	u, err = a.Update(ctx, rd.Token, "", true)
	if err != nil || u.Token == "" || u.Token == rd.Token || u.ID != rd.ID {
		t.Fatalf("renew = %+v, %v", u, err)
	}
	if _, err := a.Check(rd.Token); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("old secret after renew: %v", err)
	}
	if _, err := a.Check(u.Token); err != nil {
		t.Fatalf("new secret: %v", err)
	}

	// A fresh Authenticator on the same store sees the same tokens.
	b := newAuth(t, s, auth.Options{AllowOpen: true})
	if p, err := b.Check(u.Token); err != nil || p.Name != "wallboard" || b.Count() != 2 {
		t.Fatalf("reloaded: %+v, %v, count %d", p, err, b.Count())
	}

	// The last admin token cannot go while another token remains.
	if _, err := a.Remove(ctx, adm.ID); !errors.Is(err, auth.ErrLastAdmin) {
		t.Fatalf("remove last admin: %v", err)
	}
	if _, err := a.Remove(ctx, u.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Remove(ctx, u.ID); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
	// Removing the very last token reopens a loopback-only server...
	if _, err := a.Remove(ctx, adm.Token); err != nil || !a.Open() {
		t.Fatalf("remove last: %v open %v", err, a.Open())
	}
	// ...but is refused on a server that may not run open.
	c := newAuth(t, s, auth.Options{})
	last, err := c.Add(ctx, "only", []string{"admin"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Remove(ctx, last.ID); !errors.Is(err, auth.ErrLastAdmin) {
		t.Fatalf("remove last, not open: %v", err)
	}
}

func TestInputErrors(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a := newAuth(t, s, auth.Options{AllowOpen: true})
	for _, tc := range []struct {
		name  string
		caps  []string
		field string
	}{
		{"", []string{"admin"}, "name"},
		{"x\x00y", []string{"admin"}, "name"},
		{strings.Repeat("n", 129), []string{"admin"}, "name"},
		{"ok", []string{"root"}, "capabilities[0]"},
		{"ok", nil, "capabilities"},
	} {
		_, err := a.Add(ctx, tc.name, tc.caps)
		var ie *auth.InputError
		if !errors.As(err, &ie) || ie.Field != tc.field {
			t.Errorf("Add(%q, %q) = %v, want field %s", tc.name, tc.caps, err, tc.field)
		}
	}
	if a.Count() != 0 {
		t.Fatal("a rejected token was stored")
	}
	if _, err := a.Get(""); err == nil {
		t.Fatal("Get(\"\") succeeded")
	}
}

func TestConcurrentCheckDuringChanges(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	a := newAuth(t, s, auth.Options{Static: []string{"root"}})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := a.Check("root"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		i, err := a.Add(ctx, "t", []string{"uplink"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Remove(ctx, i.ID); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "root", "mgs_", "static-1", strings.Repeat("a", 5000)} {
		f.Add(s)
	}
	db, err := boltstore.Open(filepath.Join(f.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	a, err := auth.New(context.Background(), db, auth.Options{Static: []string{"root"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := a.Check(tok)
		if (err == nil) != (strings.TrimSpace(tok) == "root") {
			t.Fatalf("Check(%q) = %+v, %v", tok, p, err)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	db, err := boltstore.Open(filepath.Join(b.TempDir(), "mgs.db"), &boltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	a, err := auth.New(context.Background(), db, auth.Options{Static: []string{"root"}})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := a.Add(context.Background(), "bench", []string{"uplink"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Check(tok.Token); err != nil {
			b.Fatal(err)
		}
	}
}
