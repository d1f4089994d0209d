package config

import (
	"strings"
	"testing"
)

func TestValidateFormats(t *testing.T) {
	for _, tc := range []struct {
		name    string
		formats map[string]TopicFormat
		err     string
	}{
		{"a topic not consumed", map[string]TopicFormat{"other": {Format: "segment"}}, "config: kafka.formats.other other: is not one of kafka.topics"},
		{"an unknown format", map[string]TopicFormat{"in": {Format: "avro"}}, "config: kafka.formats.in.format avro: use mutation, debezium or segment"},
		{"debezium without a mapping", map[string]TopicFormat{"in": {Format: "debezium"}}, `config: kafka.formats.in.mapping "": a debezium topic needs a mapping file`},
		{"a mapping for mutation messages", map[string]TopicFormat{"in": {Mapping: "m.yaml"}}, "config: kafka.formats.in.mapping m.yaml: is for the debezium and segment formats only"},
		{"valid", map[string]TopicFormat{"in": {Format: "debezium", Mapping: "m.yaml"}, "seg": {Format: "segment"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			c.Kafka.Topics = []string{"in", "seg"}
			c.SuprSend.WorkspaceKey, c.SuprSend.Secret = "k", "s"
			c.Kafka.Formats = tc.formats
			err := c.Validate()
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}
