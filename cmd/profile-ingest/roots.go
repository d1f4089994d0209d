package main

// The Mozilla CA roots, compiled in: crypto/x509 uses them only when the system has none, as in
// the FROM scratch image (deploy/Containerfile), so HTTPS to the SuprSend API and TLS to Kafka
// verify there without a CA bundle in the image.
import _ "golang.org/x/crypto/x509roots/fallback"
