package lwm2m

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Link is one entry of a CoRE link-format list (RFC 6690), as LwM2M clients
// register their objects: </19/0>;ct=42.
type Link struct {
	Target string
	Params []LinkParam
}

// LinkParam is one ;name[=value] of a link; Value has quotes removed.
type LinkParam struct {
	Name, Value string
	HasValue    bool
}

// ErrLinkFormat is wrapped by every link-format parse error.
var ErrLinkFormat = errors.New("lwm2m: bad link-format")

// LinkError locates a link-format error.
type LinkError struct {
	Offset int
	Reason string
}

func (e *LinkError) Error() string {
	return fmt.Sprintf("lwm2m: bad link-format at offset %d: %s", e.Offset, e.Reason)
}

// Unwrap makes errors.Is(err, ErrLinkFormat) true.
func (e *LinkError) Unwrap() error { return ErrLinkFormat }

// MaxLinks bounds the entries of one registration.
const MaxLinks = 256

// ParseLinks parses a link-format body:
//
//	link-value-list = [ link-value *( "," link-value ) ]
//	link-value      = "<" URI-Reference ">" *( ";" link-param )
//	link-param      = parmname [ "=" ( ptoken / quoted-string ) ]
//
// Whitespace around separators is tolerated (some firmwares add it). An
// empty body is an empty list.
func ParseLinks(b []byte) ([]Link, error) {
	p := linkParser{s: b}
	var out []Link
	p.skipSpace()
	if p.i == len(p.s) {
		return nil, nil
	}
	for {
		if len(out) == MaxLinks {
			return nil, p.fail("more than %d links", MaxLinks)
		}
		l, err := p.link()
		if err != nil {
			return nil, err
		}
		out = append(out, l)
		p.skipSpace()
		if p.i == len(p.s) {
			return out, nil
		}
		if p.s[p.i] != ',' {
			return nil, p.fail("want ',' between links, got %q", p.s[p.i])
		}
		p.i++
		p.skipSpace()
	}
}

type linkParser struct {
	s []byte
	i int
}

func (p *linkParser) fail(format string, args ...any) error {
	return &LinkError{Offset: p.i, Reason: fmt.Sprintf(format, args...)}
}

func (p *linkParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\r' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *linkParser) link() (Link, error) {
	if p.i >= len(p.s) || p.s[p.i] != '<' {
		return Link{}, p.fail("want '<' starting a link")
	}
	p.i++
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != '>' {
		c := p.s[p.i]
		if c <= ' ' || c >= 0x7f || c == '<' || c == '"' {
			return Link{}, p.fail("character %q in a link target", c)
		}
		p.i++
	}
	if p.i == len(p.s) {
		return Link{}, p.fail("unterminated link target")
	}
	l := Link{Target: string(p.s[start:p.i])}
	p.i++
	for {
		p.skipSpace()
		if p.i == len(p.s) || p.s[p.i] != ';' {
			return l, nil
		}
		p.i++
		p.skipSpace()
		prm, err := p.param()
		if err != nil {
			return Link{}, err
		}
		l.Params = append(l.Params, prm)
	}
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '!' || c == '#' || c == '$' ||
		c == '&' || c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~' || c == '*'
}

// isTokenChar allows the ptoken characters of RFC 6690 plus the few that
// LwM2M values use unquoted (ver=1.0, ct=11543, rt=oma.lwm2m).
func isTokenChar(c byte) bool {
	return isNameChar(c) || c == '%' || c == '\'' || c == '(' || c == ')' || c == '/' || c == ':' || c == '<' ||
		c == '=' || c == '>' || c == '?' || c == '@' || c == '[' || c == ']' || c == '{' || c == '}'
}

func (p *linkParser) param() (LinkParam, error) {
	start := p.i
	for p.i < len(p.s) && isNameChar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return LinkParam{}, p.fail("want a parameter name")
	}
	prm := LinkParam{Name: string(p.s[start:p.i])}
	p.skipSpace()
	if p.i == len(p.s) || p.s[p.i] != '=' {
		return prm, nil
	}
	p.i++
	p.skipSpace()
	prm.HasValue = true
	if p.i < len(p.s) && p.s[p.i] == '"' {
		p.i++
		var v strings.Builder
		for {
			if p.i == len(p.s) {
				return LinkParam{}, p.fail("unterminated quoted string")
			}
			c := p.s[p.i]
			p.i++
			if c == '"' {
				break
			}
			if c == '\\' {
				if p.i == len(p.s) {
					return LinkParam{}, p.fail("unterminated escape")
				}
				c = p.s[p.i]
				p.i++
			}
			v.WriteByte(c)
		}
		prm.Value = v.String()
		return prm, nil
	}
	start = p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) && p.s[p.i] != ',' && p.s[p.i] != ';' {
		p.i++
	}
	if p.i == start {
		return LinkParam{}, p.fail("want a value after '='")
	}
	prm.Value = string(p.s[start:p.i])
	return prm, nil
}

// FormatLinks writes links back in link-format (quoting values that need
// it); ParseLinks(FormatLinks(l)) returns l.
func FormatLinks(links []Link) string {
	var b strings.Builder
	for i, l := range links {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('<')
		b.WriteString(l.Target)
		b.WriteByte('>')
		for _, p := range l.Params {
			b.WriteByte(';')
			b.WriteString(p.Name)
			if !p.HasValue {
				continue
			}
			b.WriteByte('=')
			plain := p.Value != ""
			for j := 0; j < len(p.Value); j++ {
				if c := p.Value[j]; !isTokenChar(c) || c == ',' || c == ';' {
					plain = false
				}
			}
			if plain {
				b.WriteString(p.Value)
				continue
			}
			b.WriteByte('"')
			for j := 0; j < len(p.Value); j++ {
				if c := p.Value[j]; c == '"' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(p.Value[j])
			}
			b.WriteByte('"')
		}
	}
	return b.String()
}

// Objects returns the object/instance paths a registration declares
// ("/19/0" → [19 0]), skipping the root link and non-numeric targets.
func Objects(links []Link) [][]uint16 {
	var out [][]uint16
	for _, l := range links {
		t := strings.Trim(l.Target, "/")
		if t == "" {
			continue
		}
		var ids []uint16
		ok := true
		for _, part := range strings.Split(t, "/") {
			n, err := strconv.ParseUint(part, 10, 16)
			if err != nil {
				ok = false
				break
			}
			ids = append(ids, uint16(n))
		}
		if ok {
			out = append(out, ids)
		}
	}
	return out
}
