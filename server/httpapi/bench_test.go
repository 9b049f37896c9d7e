package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openmgs/openmgs/auth"
	"github.com/openmgs/openmgs/server/httpapi"
	"github.com/openmgs/openmgs/store/boltstore"
)

// uplinkBatch builds a uplink/send body of 128 DM uplinks (the status
// report of modem-protocol.md §2.6) for devices base+0..127 at fcnt.
func uplinkBatch(base uint64, fcnt uint32) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := range uint64(128) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"%016X":{"msgtype":"updf","fcnt":%d,"port":199,"payload":"00080100000319040e1c0500000600000700000000000000000f0300120500","dr":4,"freq":868100000,"timestamp":%d.5}`,
			base+i, fcnt, 1700000000+fcnt)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func postBatch(b *testing.B, c *http.Client, url string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Authorization", "root")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("status %d", resp.StatusCode)
	}
}

// BenchmarkUplinkSend128 posts uplink/send requests of 128 DM uplinks over
// loopback HTTP to a server with a durable (fsync) bbolt store, one client
// at a time (sequential) and from 8 concurrent clients (parallel).
func BenchmarkUplinkSend128(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchUplinkSend(b, clients, false)
		})
	}
}

// BenchmarkUplinkSend128NoSync is the same without fsync: the CPU cost of
// the HTTP path and the pipeline, for profiling (not a durability figure).
func BenchmarkUplinkSend128NoSync(b *testing.B) {
	benchUplinkSend(b, 1, true)
}

func benchUplinkSend(b *testing.B, clients int, noSync bool) {
	{
		{
			s := newServer(b, []string{"root"}, func(_ *httpapi.Options, _ *auth.Options, o *boltstore.Options) { o.NoSync = noSync })
			url := s.url + "/api/v1/uplink/send"
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
			var fcnt atomic.Uint32
			var client atomic.Uint64
			b.ReportAllocs()
			b.SetParallelism(clients)
			start := time.Now()
			var requests atomic.Int64
			if clients == 1 {
				for b.Loop() {
					postBatch(b, c, url, uplinkBatch(0, fcnt.Add(1)))
					requests.Add(1)
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					base := client.Add(1) << 16 // own devices per client
					for pb.Next() {
						postBatch(b, c, url, uplinkBatch(base, fcnt.Add(1)))
						requests.Add(1)
					}
				})
			}
			b.ReportMetric(float64(requests.Load()*128)/time.Since(start).Seconds(), "uplinks/s")
		}
	}
}
