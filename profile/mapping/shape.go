package mapping

import (
	"fmt"
	"sort"
	"strings"
)

// shape is what a mapping key holds: a string, a list of strings, a push channel (a string or
// an object), or an object with the keys of its own shape.
type shape struct {
	kind string // "string", "strings", "push", "object"
	keys map[string]*shape
}

var (
	str     = &shape{kind: "string"}
	strs    = &shape{kind: "strings"}
	pushObj = &shape{kind: "object", keys: map[string]*shape{"field": str, "provider": str, "provider_field": str}}
	push    = &shape{kind: "push"}
)

// mappingShape is the mapping file's schema: checkShape names the YAML path of a key or value
// that does not fit it, before the file is decoded.
var mappingShape = &shape{kind: "object", keys: map[string]*shape{
	"distinct_id": str,
	"channels": {kind: "object", keys: map[string]*shape{
		"email": str, "sms": str, "whatsapp": str, "androidpush": push, "iospush": push,
		"webpush": str, "slack": str, "ms_teams": str}},
	"preferred_language": str,
	"timezone":           str,
	"properties":         {kind: "object", keys: map[string]*shape{"include": strs, "exclude": strs}},
	"on_delete":          str,
}}

// checkShape reports the first key or value of v (the file, decoded as generic YAML) that the
// shape does not allow, naming its YAML path.
func checkShape(v any, s *shape, path string) error {
	name := path
	if name == "" {
		name = "the mapping"
	}
	if v == nil {
		return nil // an empty key keeps the default
	}
	switch s.kind {
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: must be a field name (a string), got %s", name, yamlKind(v))
		}
	case "strings":
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: must be a list of field names, got %s", name, yamlKind(v))
		}
		for i, e := range list {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("%s[%d]: must be a field name (a string), got %s", name, i, yamlKind(e))
			}
		}
	case "push":
		if _, ok := v.(string); ok {
			return nil
		}
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("%s: must be the token's field or {field, provider | provider_field}, got %s", name, yamlKind(v))
		}
		return checkShape(v, pushObj, path)
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: must be a mapping of keys, got %s", name, yamlKind(v))
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub, known := s.keys[k]
			p := strings.TrimPrefix(path+"."+k, ".")
			if !known {
				return fmt.Errorf("%s: is not a key here: use %s", p, strings.Join(sortedNames(s.keys), ", "))
			}
			if err := checkShape(m[k], sub, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func sortedNames(m map[string]*shape) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func yamlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	case nil:
		return "nothing"
	}
	return "a number"
}
