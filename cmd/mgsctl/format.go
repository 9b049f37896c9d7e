package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	mgsv1 "github.com/openmgs/openmgs/proto/gen/mgs/v1"
)

// Table renderers of the API objects shared by several commands.

// infoUnits are the units of the scalar info fields (modem-protocol.md §2.2).
var infoUnits = map[string]string{"charge": "mAh", "voltage": "V", "temp": "°C", "uptime": "h", "rxtime": "h"}

// infoRows lists the set info fields (FIELD, VALUE, UPDATED) in INFO_FIELDS
// order; keep, when non-nil, selects by timestamp.
func infoRows(f *mgsv1.InfoFields, keep func(ts float64) bool) [][]string {
	if f == nil {
		return nil
	}
	var rows [][]string
	m := f.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() != protoreflect.MessageKind || !m.Has(fd) {
			continue
		}
		info := m.Get(fd).Message()
		sub := info.Descriptor().Fields()
		tsField, valField := sub.ByName("timestamp"), sub.ByName("value")
		if tsField == nil || valField == nil {
			continue
		}
		ts := info.Get(tsField).Float()
		if keep != nil && !keep(ts) {
			continue
		}
		name := string(fd.Name())
		v := fmtReflect(valField, info.Get(valField), info.Has(valField))
		if u := infoUnits[name]; u != "" {
			v += " " + u
		}
		rows = append(rows, []string{name, v, fmtTime(ts)})
	}
	return rows
}

// infoNames are the names of the info fields with timestamp ts.
func infoNames(f *mgsv1.InfoFields, ts float64) []string {
	var names []string
	for _, r := range infoRows(f, func(t float64) bool { return t == ts }) {
		names = append(names, r[0])
	}
	return names
}

// fmtReflect renders an info value: scalars as they are; messages as
// "name=value" pairs, with true booleans by name only (status flags).
func fmtReflect(fd protoreflect.FieldDescriptor, v protoreflect.Value, has bool) string {
	if fd.Kind() != protoreflect.MessageKind {
		if fd.Kind() == protoreflect.DoubleKind || fd.Kind() == protoreflect.FloatKind {
			return fmtFloat(v.Float())
		}
		return fmt.Sprint(v.Interface())
	}
	if !has {
		return "-"
	}
	m := v.Message()
	fields := m.Descriptor().Fields()
	var parts []string
	for i := range fields.Len() {
		sub := fields.Get(i)
		sv := m.Get(sub)
		switch {
		case sub.Kind() == protoreflect.BoolKind:
			if sv.Bool() {
				parts = append(parts, string(sub.Name()))
			}
		case sub.IsList() || sub.Kind() == protoreflect.MessageKind:
		case sub.Kind() == protoreflect.DoubleKind || sub.Kind() == protoreflect.FloatKind:
			parts = append(parts, string(sub.Name())+"="+fmtFloat(sv.Float()))
		default:
			parts = append(parts, fmt.Sprintf("%s=%v", sub.Name(), sv.Interface()))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

var requestHeader = []string{"ID", "TYPE", "PARAM", "CREATED", "STATE"}

// requestRows lists pending (or fulfilled) requests.
func requestRows(rs []*mgsv1.PendingRequest) [][]string {
	rows := make([][]string, 0, len(rs))
	for _, r := range rs {
		typ, param := "-", "-"
		if q := r.GetRequest(); q != nil {
			typ, param = q.Type, fmtValue(q.Param)
		}
		rows = append(rows, []string{strconv.FormatUint(uint64(r.Id), 10), typ, param, fmtTime(r.Timestamp), fmtValue(r.Cookie)})
	}
	return rows
}

var logHeader = []string{"TIME", "LEVEL", "MESSAGE"}

func logRows(ls []*mgsv1.LogMessage) [][]string {
	rows := make([][]string, 0, len(ls))
	for _, l := range ls {
		rows = append(rows, []string{fmtTime(l.Timestamp), l.Level, l.Logmsg})
	}
	return rows
}

var portsHeader = []string{"DEVEUI", "DM", "GNSS", "GNSSNG", "WIFI", "STREAM"}

func portsRow(name string, p *mgsv1.Fports) []string {
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	return []string{name, u(p.GetDmport()), u(p.GetGnssport()), u(p.GetGnssngport()), u(p.GetWifiport()), u(p.GetStreamport())}
}

func fmtPorts(p *mgsv1.Fports) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("dm=%d gnss=%d gnssng=%d wifi=%d stream=%d", p.Dmport, p.Gnssport, p.Gnssngport, p.Wifiport, p.Streamport)
}

func fmtDnlink(d *mgsv1.LoraDnlink) string {
	if d == nil {
		return "none"
	}
	return fmt.Sprintf("port %d, payload %s", d.Port, d.Payload)
}

// fmtUplink renders an UPLINK_MSG on one line.
func fmtUplink(u *mgsv1.UplinkMsg) string {
	if u == nil {
		return "-"
	}
	typ := u.Msgtype
	if typ == "" {
		typ = "updf"
	}
	parts := []string{typ}
	if u.Fcnt != nil {
		parts = append(parts, fmt.Sprintf("fcnt=%d", *u.Fcnt))
	}
	if u.Port != nil {
		parts = append(parts, fmt.Sprintf("port=%d", *u.Port))
	}
	if u.Dr != nil {
		parts = append(parts, fmt.Sprintf("dr=%d", *u.Dr))
	}
	if u.Freq != nil {
		parts = append(parts, fmt.Sprintf("freq=%d", *u.Freq))
	}
	if u.DnMtu != nil {
		parts = append(parts, fmt.Sprintf("dn_mtu=%d", *u.DnMtu))
	}
	if u.Payload != "" {
		parts = append(parts, "payload="+u.Payload)
	}
	return strings.Join(parts, " ")
}

// fmtPosition renders a POSITION_SOLUTION on one line.
func fmtPosition(p *mgsv1.PositionSolution) string {
	if p == nil {
		return "none"
	}
	s := p.AlgorithmType
	if len(p.Llh) == 3 {
		s += fmt.Sprintf(" lat=%s lon=%s alt=%s", fmtFloat(p.Llh[0]), fmtFloat(p.Llh[1]), fmtFloat(p.Llh[2]))
	}
	if p.Accuracy != 0 {
		s += " accuracy=" + fmtFloat(p.Accuracy) + "m"
	}
	if p.Gdop != 0 {
		s += " gdop=" + fmtFloat(p.Gdop)
	}
	return s
}

var fileHeader = []string{"SCTR", "TIME", "PORT", "BYTES", "HASH", "MESSAGE"}

func fileRow(f *mgsv1.File) []string {
	port, size, hash := "-", "-", "-"
	if f.Port != nil {
		port = strconv.FormatUint(uint64(*f.Port), 10)
	}
	if f.Data != nil {
		size = strconv.Itoa(len(*f.Data) / 2)
	}
	if f.Hash != nil {
		hash = *f.Hash
	}
	return []string{strconv.FormatUint(uint64(f.Sctr), 10), fmtTime(f.Timestamp), port, size, hash, f.Message}
}

// printUplinkResponse prints an UPLINK_RESPONSE; uplinkTime is the
// uplink's timestamp, which marks the info fields it updated.
func printUplinkResponse(w io.Writer, r *mgsv1.UplinkResponse, uplinkTime float64) {
	if r == nil {
		fmt.Fprintln(w, "no result")
		return
	}
	kv := [][2]string{
		{"operation", r.Operation},
		{"dnlink", fmtDnlink(r.Dnlink)},
		{"fports", fmtPorts(r.Fports)},
	}
	if p := r.PendingRequests; p != nil {
		kv = append(kv, [2]string{"upcount/updelay", fmt.Sprintf("%d/%d", p.Upcount, p.Updelay)})
	}
	if r.File != nil {
		kv = append(kv, [2]string{"file", strings.Join(fileRow(r.File), " ")})
	}
	if r.PositionSolution != nil {
		kv = append(kv, [2]string{"position", fmtPosition(r.PositionSolution)})
	}
	keyValues(w, kv)
	if len(r.StreamRecords) > 0 {
		rows := make([][]string, 0, len(r.StreamRecords))
		for _, s := range r.StreamRecords {
			rows = append(rows, []string{strconv.FormatUint(uint64(s.Offset), 10), s.Data})
		}
		section(w, "Stream records", []string{"OFFSET", "DATA"}, rows)
	}
	section(w, "Info fields updated", []string{"FIELD", "VALUE", "TIMESTAMP"},
		infoRows(r.InfoFields, func(ts float64) bool { return ts == uplinkTime }))
	section(w, "Fulfilled requests", requestHeader, requestRows(r.FulfilledRequests))
	section(w, "Pending requests", requestHeader, requestRows(r.PendingRequests.GetRequests()))
	section(w, "Log messages", logHeader, logRows(r.LogMessages))
}
