// Package tlsfile builds TLS configurations from PEM files: a server
// certificate that is reloaded when its files change on disk (renewals by
// certbot or cert-manager take effect without a restart), an optional
// client CA for mutual TLS, and the matching client side for mgsctl and
// mgsbench.
package tlsfile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// checkEvery bounds how often a handshake looks at the files' mtimes.
const checkEvery = time.Second

// Cert is a certificate and key pair read from files, reloaded on change.
type Cert struct {
	certFile, keyFile string
	// OnReload, when set, is told about each reload attempt after the
	// first load: nil after success, the error otherwise (the previous
	// certificate stays in use).
	OnReload func(err error)

	mu       sync.Mutex
	cert     *tls.Certificate
	certMod  time.Time
	keyMod   time.Time
	lastSeen time.Time
	now      func() time.Time
}

// LoadCert reads the pair once, so a bad file fails at start-up.
func LoadCert(certFile, keyFile string) (*Cert, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tlsfile: both a certificate and a key file are needed")
	}
	c := &Cert{certFile: certFile, keyFile: keyFile, now: time.Now}
	if err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cert) load() error {
	cm, err := modTime(c.certFile)
	if err != nil {
		return err
	}
	km, err := modTime(c.keyFile)
	if err != nil {
		return err
	}
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tlsfile: %s / %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil || len(pair.Certificate) == 0 {
		return fmt.Errorf("tlsfile: %s: no certificate", c.certFile)
	}
	c.cert, c.certMod, c.keyMod = &pair, cm, km
	return nil
}

func modTime(name string) (time.Time, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return time.Time{}, fmt.Errorf("tlsfile: %w", err)
	}
	return fi.ModTime(), nil
}

// Leaf is the certificate in use.
func (c *Cert) Leaf() *x509.Certificate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert.Leaf
}

// GetCertificate is tls.Config.GetCertificate: the current pair, reloaded
// first when either file changed since it was read. A pair that fails to
// load (a renewal caught half-written) keeps the previous one in use; the
// next check tries again.
func (c *Cert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	cert, attempted, err := c.cert, false, error(nil)
	if now := c.now(); now.Sub(c.lastSeen) >= checkEvery {
		c.lastSeen = now
		attempted, err = c.reloadIfChanged()
		cert = c.cert
	}
	c.mu.Unlock()
	// Told outside the lock: OnReload may call Leaf.
	if attempted && c.OnReload != nil {
		c.OnReload(err)
	}
	return cert, nil
}

// reloadIfChanged reloads the pair when a file changed (or cannot be
// read); it reports whether it tried, and the outcome. Callers hold c.mu.
func (c *Cert) reloadIfChanged() (bool, error) {
	cm, err1 := modTime(c.certFile)
	km, err2 := modTime(c.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return true, err
	}
	if cm.Equal(c.certMod) && km.Equal(c.keyMod) {
		return false, nil
	}
	return true, c.load()
}

// ServerConfig is the listeners' configuration: TLS 1.2 or later, the
// certificate from c, and when clientCA is not empty, client certificates
// required and verified against the CAs in that PEM file (mutual TLS).
func ServerConfig(c *Cert, clientCA string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: c.GetCertificate}
	if clientCA != "" {
		pool, err := readPool(clientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// ClientOptions configure a client's TLS.
type ClientOptions struct {
	CAFile     string // PEM roots to trust instead of the system's
	ServerName string // overrides the host of the address
	CertFile   string // client certificate for mutual TLS
	KeyFile    string
}

// ClientConfig is the client side of ServerConfig.
func ClientConfig(o ClientOptions) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
	if o.CAFile != "" {
		pool, err := readPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if o.CertFile != "" || o.KeyFile != "" {
		if o.CertFile == "" || o.KeyFile == "" {
			return nil, errors.New("tlsfile: a client certificate needs both its certificate and key files")
		}
		pair, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsfile: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

func readPool(name string) (*x509.CertPool, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("tlsfile: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tlsfile: %s: no PEM certificate", name)
	}
	return pool, nil
}
