package uplink

import (
	"bytes"
	"context"

	"github.com/openmgs/openmgs/modemproto"
	"github.com/openmgs/openmgs/store"
	"github.com/openmgs/openmgs/stream"
)

// streamStage feeds a ROSE frame — DM tag 0x14, or bare on an explicitly
// configured stream port — to the device's stream decoder, and reports the
// records it completes with their stream offsets (records recovered from
// redundancy can complete out of order; the offset restores it).
func (p *Pipeline) streamStage(_ context.Context, s *State) error {
	var frame []byte
	switch {
	case s.Protocol == ProtoDM && s.DM != nil && s.DM.Present.Has(modemproto.TagStream):
		frame = s.DM.Stream
	case s.Protocol == ProtoStream:
		frame = s.Msg.Payload
	default:
		return nil
	}
	d := s.Dev
	var dec *stream.Decoder
	if b := d.Sessions[SessionStream]; b != nil {
		var err error
		if dec, err = stream.UnmarshalDecoder(b); err != nil {
			s.Log(store.LevelError, "stored stream state unreadable (%v): starting a new stream session", err)
			dec = nil
		}
	}
	if dec == nil {
		dec = stream.NewDecoder()
	}
	records, lost, err := dec.Add(s.Msg.FCnt, frame)
	if err != nil {
		s.Log(store.LevelError, "stream frame: %v", err)
		return nil
	}
	port := s.Ports.StreamPort()
	for _, r := range records {
		s.Result.StreamRecords = append(s.Result.StreamRecords, store.StreamRecord{Time: s.Msg.Timestamp, Port: port,
			Offset: r.Offset, Data: r.Data})
	}
	if lost > 0 {
		s.Log(store.LevelWarning, "stream: %d octets lost (no redundancy covered them); records in them are skipped", lost)
	}
	if len(records) > 0 && d.Info.StreamPar.Set && d.Info.StreamPar.Value.Encrypted {
		s.Log(store.LevelInfo, "stream records are encrypted by the device (streampar encmode): reported as received")
	}
	if ack, ok := dec.AckCommand(); ok {
		if scmd, err := ack.AppendBinary(nil); err == nil {
			queueOnce(s, store.Request{Type: store.RequestStream, Data: scmd})
		}
	}
	b, err := dec.MarshalBinary()
	if err != nil {
		return err
	}
	setSession(d, SessionStream, b)
	return nil
}

// queueOnce adds a request unless an identical one is pending.
func queueOnce(s *State, r store.Request) {
	for _, q := range s.Dev.Requests {
		if q.Request.Type == r.Type && bytes.Equal(q.Request.Data, r.Data) {
			return
		}
	}
	s.Dev.NextRequestID++
	s.Dev.Requests = append(s.Dev.Requests, store.PendingRequest{ID: s.Dev.NextRequestID, Time: s.Now, Request: r})
}
