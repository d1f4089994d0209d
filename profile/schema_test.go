package profile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The JSON Schema published for producers names exactly the operations Decode knows.
func TestSchemaListsEveryOperation(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "schema", "mutation-v1.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Defs struct {
			Operation struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"operation"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	var names []string
	for n := range s.Defs.Operation.Properties {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, OperationNames()) {
		t.Errorf("schema operations %v\n decoder operations %v", names, OperationNames())
	}
}
