// Command certs makes the local test broker's TLS material in a directory, once: a private CA,
// a broker certificate for 127.0.0.1 and localhost, and a client certificate for mutual TLS,
// all signed by the CA, in PEM. These are test credentials for a broker on loopback, never
// real ones.
//
//	go run ./deploy/kafka/certs -dir .cache/kafka/run-9092/tls
//
// It writes ca.pem; broker-keystore.pem (the broker's key and certificate chain, as Kafka's PEM
// key store wants); client.pem and client.key. A directory that already holds ca.pem is left
// as it is.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := flag.String("dir", "", "directory to write into")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "certs: -dir is required")
		os.Exit(2)
	}
	if err := run(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "ca.pem")); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	now := time.Now()
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "profile-ingest local test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, ips []net.IP, dns []string) (der, key []byte, err error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips, DNSNames: dns,
		}
		if der, err = x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey); err != nil {
			return nil, nil, err
		}
		key, err = x509.MarshalPKCS8PrivateKey(k)
		return der, key, err
	}
	brokerDER, brokerKey, err := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		return err
	}
	clientDER, clientKey, err := leaf(3, "profile-ingest-test-client", x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return err
	}
	cert := func(der []byte) *pem.Block { return &pem.Block{Type: "CERTIFICATE", Bytes: der} }
	key := func(der []byte) *pem.Block { return &pem.Block{Type: "PRIVATE KEY", Bytes: der} }
	for _, f := range []struct {
		name   string
		blocks []*pem.Block
	}{
		{"broker-keystore.pem", []*pem.Block{key(brokerKey), cert(brokerDER), cert(caDER)}},
		{"client.pem", []*pem.Block{cert(clientDER)}},
		{"client.key", []*pem.Block{key(clientKey)}},
		{"ca.pem", []*pem.Block{cert(caDER)}}, // last: its presence says the directory is complete
	} {
		if err := write(filepath.Join(dir, f.name), f.blocks...); err != nil {
			return err
		}
	}
	return nil
}

func write(path string, blocks ...*pem.Block) error {
	var out []byte
	for _, b := range blocks {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return os.WriteFile(path, out, 0o600)
}
