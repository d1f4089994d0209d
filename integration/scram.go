//go:build integration

package integration

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
)

// AddScramUser gives user a SCRAM-SHA-512 credential through the Admin API, waits until the SASL
// listener at saslBrokers accepts it, and removes it when t ends.
func AddScramUser(t testing.TB, brokers, saslBrokers []string, user, password string) {
	t.Helper()
	const iterations = 4096
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	salted, err := pbkdf2.Key(sha512.New, password, salt, iterations, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Client(brokers).AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{
		Upsertions: []kafka.UserScramCredentialsUpsertion{{
			Name: user, Mechanism: kafka.ScramMechanismSha512, Iterations: iterations, Salt: salt, SaltedPassword: salted,
		}},
	})
	if err == nil && len(res.Results) == 1 {
		err = res.Results[0].Error
	}
	if err != nil {
		t.Fatalf("add SCRAM-SHA-512 user %s: %v", user, err)
	}
	// The controller stores the credential first; the broker learns it from the metadata log a
	// moment later and refuses the login until then.
	mech, err := scram.Mechanism(scram.SHA512, user, password)
	if err != nil {
		t.Fatal(err)
	}
	sasl := &kafka.Client{Addr: kafka.TCP(saslBrokers...), Timeout: 5 * time.Second, Transport: &kafka.Transport{SASL: mech}}
	for {
		if _, err = sasl.Metadata(ctx, &kafka.MetadataRequest{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("SCRAM-SHA-512 user %s: the SASL listener still refuses it after 30s: %v", user, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = Client(brokers).AlterUserScramCredentials(ctx, &kafka.AlterUserScramCredentialsRequest{
			Deletions: []kafka.UserScramCredentialsDeletion{{Name: user, Mechanism: kafka.ScramMechanismSha512}},
		})
	})
}
