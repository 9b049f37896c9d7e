package modemproto

import "testing"

func BenchmarkDecodeUplinkReport(b *testing.B) {
	frame := mustHex(b, report1Hex)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := DecodeUplink(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeUplinkStream(b *testing.B) {
	frame := mustHex(b, capturedHex)
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for b.Loop() {
		if _, err := DecodeUplink(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendUplinkReport(b *testing.B) {
	u, err := DecodeUplink(mustHex(b, report2Hex))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = u.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendDownlinkGetInfo(b *testing.B) {
	d := Downlink{Command: GetInfo{Tags: []Tag{TagTemp, TagSignal, TagRstCount}}}
	buf := make([]byte, 0, 16)
	var err error
	b.ReportAllocs()
	for b.Loop() {
		if buf, err = d.AppendBinary(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDownlinkGetInfo(b *testing.B) {
	frame := mustHex(b, "00 00 03 03 04 0F")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDownlink(frame); err != nil {
			b.Fatal(err)
		}
	}
}
