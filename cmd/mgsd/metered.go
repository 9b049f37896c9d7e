package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openmgs/openmgs/internal/metrics"
	"github.com/openmgs/openmgs/lwm2m"
	"github.com/openmgs/openmgs/solver/gnss"
	"github.com/openmgs/openmgs/solver/wifi"
	"github.com/openmgs/openmgs/uplink"
)

// meteredGNSS counts and times the GNSS solves of the pipeline.
type meteredGNSS struct {
	s uplink.GNSSSolver
	m *metrics.Metrics
}

func (g meteredGNSS) Solve(req gnss.Request) (gnss.Solution, error) {
	t := time.Now()
	sol, err := g.s.Solve(req)
	g.m.SolverDone("gnss", err == nil, time.Since(t))
	return sol, err
}

// meteredWiFi counts and times the Wi-Fi solves of the pipeline.
type meteredWiFi struct {
	s uplink.WiFiSolver
	m *metrics.Metrics
}

func (w meteredWiFi) Solve(obs []wifi.Observation) (wifi.Solution, error) {
	t := time.Now()
	sol, err := w.s.Solve(obs)
	w.m.SolverDone("wifi", err == nil, time.Since(t))
	return sol, err
}

// registerLwM2M exports the CoAP/LwM2M server's session state and counters.
func registerLwM2M(m *metrics.Metrics, s *lwm2m.Server) error {
	gauge := func(name, help string, f func(lwm2m.Status) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: metrics.Namespace, Subsystem: "lwm2m", Name: name, Help: help},
			func() float64 { return f(s.Status()) })
	}
	counter := func(name, help string, f func(lwm2m.Status) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metrics.Namespace, Subsystem: "lwm2m", Name: name, Help: help},
			func() float64 { return float64(f(s.Status())) })
	}
	for _, c := range []prometheus.Collector{
		gauge("registrations", "Registered NB-IoT endpoints.", func(st lwm2m.Status) float64 { return float64(st.Registrations) }),
		gauge("observed", "Registered endpoints whose /19/0/0 is observed (able to send).", func(st lwm2m.Status) float64 { return float64(st.Observed) }),
		counter("registers_total", "Registrations.", func(st lwm2m.Status) uint64 { return st.Registers }),
		counter("expirations_total", "Registrations that expired.", func(st lwm2m.Status) uint64 { return st.Expirations }),
		counter("notifications_total", "Notifications (uplinks) accepted.", func(st lwm2m.Status) uint64 { return st.Notifications }),
		counter("rejected_total", "CoAP messages refused.", func(st lwm2m.Status) uint64 { return st.Rejected }),
		counter("delivered_total", "Downlinks written to /19/1/0.", func(st lwm2m.Status) uint64 { return st.Delivered }),
		counter("delivery_failed_total", "Downlinks that failed.", func(st lwm2m.Status) uint64 { return st.Failed }),
		gauge("dtls_registrations", "Endpoints registered over DTLS (coaps).", func(st lwm2m.Status) float64 { return float64(st.DTLS) }),
		counter("dtls_handshake_failures_total", "DTLS handshakes that failed (unknown identity, wrong key, timeout).",
			func(st lwm2m.Status) uint64 { return st.HandshakeFailures }),
	} {
		if err := m.Register(c); err != nil {
			return err
		}
	}
	return nil
}
