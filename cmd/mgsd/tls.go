package main

import (
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/openmgs/openmgs/internal/tlsfile"
)

// listenerTLS holds the listeners' TLS configurations: nil when TLS is off.
// The ops listener never asks for client certificates, so health probes
// and Prometheus need no client identity (/metrics still needs a token).
type listenerTLS struct {
	api, ops *tls.Config
	mode     string // "off", "on" or "mutual", for the start-up line
	cert     *tlsfile.Cert
}

// serverTLS loads --tls-cert/--tls-key (and --tls-client-ca), failing at
// start-up on bad files; later renewals are picked up on the next
// handshake, and a renewal that does not load is logged and skipped.
func serverTLS(cfg *config, log *slog.Logger) (listenerTLS, error) {
	if cfg.TLSCert == "" {
		for _, l := range cfg.listeners() {
			if host, _, _ := net.SplitHostPort(l.addr); !isLoopback(host) {
				log.Warn("listening without TLS on a non-loopback address: tokens and data travel in clear text; "+
					"set --tls-cert/--tls-key or put a TLS-terminating proxy in front", "listener", l.name, "addr", l.addr)
			}
		}
		return listenerTLS{mode: "off"}, nil
	}
	cert, err := tlsfile.LoadCert(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return listenerTLS{}, cfg.settings.errorf("tls-cert", "%v", err)
	}
	tlog := log.With("component", "tls", "cert", cfg.TLSCert)
	cert.OnReload = func(err error) {
		if err != nil {
			tlog.Error("certificate not reloaded, the previous one stays in use", "err", err)
			return
		}
		leaf := cert.Leaf()
		tlog.Info("certificate reloaded", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
	}
	ops, err := tlsfile.ServerConfig(cert, "")
	if err != nil {
		return listenerTLS{}, err
	}
	api, err := tlsfile.ServerConfig(cert, cfg.TLSClientCA)
	if err != nil {
		return listenerTLS{}, cfg.settings.errorf("tls-client-ca", "%v", err)
	}
	lt := listenerTLS{api: api, ops: ops, mode: "on", cert: cert}
	if cfg.TLSClientCA != "" {
		lt.mode = "mutual"
	}
	leaf := cert.Leaf()
	tlog.Info("TLS on", "subject", leaf.Subject.String(), "not_after", leaf.NotAfter, "client_certificates", cfg.TLSClientCA != "")
	return lt, nil
}
