package taxii

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ctimesh/ctimesh/ledger"
)

func TestStartPlainLoopbackAndClose(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Listen = "127.0.0.1:0"; c.ReloadInterval = 50 * time.Millisecond })
	addr, err := f.srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Start(); !errors.Is(err, ErrStarted) {
		t.Fatalf("second start: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+"/taxii2/", nil)
	req.Header.Set("Authorization", basic("green", f.secrets["green"]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// A client added on disk works without a restart (the poll picks it up).
	_, secret, err := AddClient(f.clients, ClientSpec{Name: "polled", MaxTLP: 1}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr.String()+"/taxii2/", nil)
		req.Header.Set("Authorization", "Token "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new client never accepted")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.Start(); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}
}

func TestStartTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	opts := ledger.DefaultOptions("")
	opts.InMemory = true
	store, err := ledger.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	clients, secrets := clientsFileFor(t, dir)
	srv, err := New(Config{Listen: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile, ClientsFile: clients,
		Scope: Scope{FederationID: testFederation}}, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	addr, err := srv.Start()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	certPEM, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(certPEM)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr.String()+"/taxii2/", nil)
	req.Header.Set("Authorization", "Token "+secrets["green"])
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Without TLS a public address is refused outright.
	_, err = New(Config{Listen: "0.0.0.0:0", ClientsFile: clients, Scope: Scope{FederationID: "f"}}, store, nil)
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("plain public listener: %v", err)
	}
}

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "taxii test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
