package httpapi

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// protojson reports where a document went wrong as "(line L:C)" with a
// rune column; fieldAt turns that into the JSON path of the value there,
// so that every 400 names its field even when protojson's message does not
// (e.g. a string where a list is expected).
var linecol = regexp.MustCompile(`\(line (\d+):(\d+)\)`)

// fieldOfProtoErr returns the path of the field a protojson error points
// at, or "".
func fieldOfProtoErr(body []byte, msg string) string {
	m := linecol.FindStringSubmatch(msg)
	if m == nil {
		return ""
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(body[off:], '\n')
		if i < 0 {
			return ""
		}
		off += i + 1
	}
	for c := 1; c < col && off < len(body); c++ {
		_, n := utf8.DecodeRune(body[off:])
		off += n
	}
	return jsonPathAt(body, off)
}

type pathFrame struct {
	obj     bool
	key     string
	idx     int
	wantKey bool
}

// jsonPathAt returns the path ("a.b[2].c") of the token of a JSON document
// that covers byte offset off, or of the innermost container open there.
func jsonPathAt(body []byte, off int) string {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []pathFrame
	path := func() string {
		var b strings.Builder
		for _, f := range stack {
			if f.obj {
				if f.key == "" {
					continue
				}
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(f.key)
			} else {
				b.WriteString("[" + strconv.Itoa(f.idx) + "]")
			}
		}
		return b.String()
	}
	advance := func() {
		if n := len(stack); n > 0 {
			if stack[n-1].obj {
				stack[n-1].wantKey = true
			} else {
				stack[n-1].idx++
			}
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return path()
		}
		end := int(dec.InputOffset())
		n := len(stack)
		if d, ok := tok.(json.Delim); ok {
			if (d == '{' || d == '[') && off < end {
				return path()
			}
			switch d {
			case '{':
				stack = append(stack, pathFrame{obj: true, wantKey: true})
			case '[':
				stack = append(stack, pathFrame{})
			default: // '}' or ']'
				if off < end {
					return path()
				}
				stack = stack[:n-1]
				advance()
			}
			continue
		}
		if n > 0 && stack[n-1].obj && stack[n-1].wantKey {
			stack[n-1].key, stack[n-1].wantKey = tok.(string), false
			if off < end {
				return path()
			}
			continue
		}
		if off < end {
			return path()
		}
		advance()
	}
}
