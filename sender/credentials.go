package sender

import (
	"encoding/json"
	"fmt"

	"github.com/rs/zerolog"
)

const redacted = "[REDACTED]"

// Credentials are a SuprSend workspace key and secret. Every way of printing, logging or
// marshalling them shows the key and hides the secret.
type Credentials struct {
	Key    string
	Secret string
}

var (
	_ fmt.Stringer               = Credentials{}
	_ fmt.GoStringer             = Credentials{}
	_ fmt.Formatter              = Credentials{}
	_ json.Marshaler             = Credentials{}
	_ zerolog.LogObjectMarshaler = Credentials{}
)

// Validate reports a missing key or secret (without printing the secret).
func (c Credentials) Validate() error {
	switch {
	case c.Key == "":
		return fmt.Errorf("sender: Credentials.Key is empty")
	case c.Secret == "":
		return fmt.Errorf("sender: Credentials.Secret is empty")
	}
	return nil
}

func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{Key:%q Secret:%s}", c.Key, redacted)
}

// GoString serves %#v.
func (c Credentials) GoString() string {
	return fmt.Sprintf("sender.Credentials{Key:%q, Secret:%q}", c.Key, redacted)
}

// Format makes every verb (%v, %+v, %s, %q, %x, …) print the redacted form.
func (c Credentials) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, c.GoString())
		return
	}
	fmt.Fprint(f, c.String())
}

// MarshalJSON shows the key and a redacted secret.
func (c Credentials) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Key    string `json:"key"`
		Secret string `json:"secret"`
	}{c.Key, redacted})
}

// MarshalZerologObject logs the key only.
func (c Credentials) MarshalZerologObject(e *zerolog.Event) {
	e.Str("key", c.Key).Str("secret", redacted)
}
