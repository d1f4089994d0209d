package sender

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestCredentialsNeverShowSecret(t *testing.T) {
	c := Credentials{Key: "WSKEY_x", Secret: "s3cr3t-value"}
	var logged bytes.Buffer
	log := zerolog.New(&logged)
	log.Info().Object("creds", c).Interface("any", c).Msg("x")
	js, _ := json.Marshal(c)
	_, err := New("ftp://bad", c)
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", c), "%+v": fmt.Sprintf("%+v", c), "%#v": fmt.Sprintf("%#v", c),
		"%s": fmt.Sprintf("%s", c), "%q": fmt.Sprintf("%q", c), "%x": fmt.Sprintf("%x", c),
		"ptr": fmt.Sprintf("%+v", &c), "nested": fmt.Sprintf("%+v", struct{ C Credentials }{c}),
		"json": string(js), "zerolog": logged.String(), "New error": err.Error(),
	}
	for name, out := range outputs {
		if strings.Contains(out, "s3cr3t") {
			t.Errorf("%s shows the secret: %s", name, out)
		}
	}
	if !strings.Contains(outputs["%v"], "WSKEY_x") || !strings.Contains(outputs["json"], `"key":"WSKEY_x"`) {
		t.Errorf("the key should stay visible: %s %s", outputs["%v"], outputs["json"])
	}
}
