package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Format names the shape of the messages on a topic.
type Format string

// The formats a topic can carry.
const (
	FormatMutation Format = "mutation" // the project's own v1 message (package profile); the default
	FormatDebezium Format = "debezium" // Debezium's JSON change-event envelope, with or without its schema
	FormatSegment  Format = "segment"  // Segment-spec calls; identify is applied, the others skipped
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatMutation, FormatDebezium, FormatSegment:
		return f, nil
	}
	return "", fmt.Errorf("%q is not a format: use mutation, debezium or segment", s)
}

// Delete policies: what a Debezium delete event does.
const (
	DeleteRemove     = "remove"      // remove the mapped channels and unset the mapped properties
	DeleteDeadLetter = "dead_letter" // dead-letter the event (reason delete_for_review) for a person to decide
)

// Mapping says which fields of a row (Debezium: the column names of before/after) or of an
// identify call (Segment: paths such as "traits.email", "context.device.token") become the
// distinct_id, the channels, the preferred language, the timezone and the properties. It is
// written in YAML (see deploy/mapping.example.yaml); Load reads and validates it.
type Mapping struct {
	// DistinctID is the field whose value (a string or an integer) is the user's distinct_id.
	// Required for debezium; default for segment: "userId".
	DistinctID string `json:"distinct_id"`
	// Channels maps SuprSend channels to fields; a field left out is not a channel.
	Channels Channels `json:"channels"`
	// PreferredLanguage is the field holding an ISO 639-1 code (set_preferred_language).
	PreferredLanguage string `json:"preferred_language"`
	// Timezone is the field holding an IANA time zone name (set_timezone).
	Timezone string `json:"timezone"`
	// Properties selects the fields set as user properties (debezium: columns; segment: the
	// keys of traits). Fields mapped above are never properties.
	Properties Properties `json:"properties"`
	// OnDelete is the Debezium delete policy: "remove" (default) or "dead_letter".
	OnDelete string `json:"on_delete"`
}

// Channels maps each SuprSend channel to the field that holds it.
type Channels struct {
	Email       string `json:"email"`
	SMS         string `json:"sms"`
	WhatsApp    string `json:"whatsapp"`
	AndroidPush *Push  `json:"androidpush"`
	IOSPush     *Push  `json:"iospush"`
	WebPush     string `json:"webpush"`  // an object (or a JSON string of one): the push subscription
	Slack       string `json:"slack"`    // an object (or a JSON string of one), as add_slack takes
	MSTeams     string `json:"ms_teams"` // an object (or a JSON string of one), as add_ms_teams takes
}

// Push is a push-token channel: the token's field and its provider, fixed or from a field. In
// YAML it is either the token's field alone ("fcm_token") or an object.
type Push struct {
	Field         string `json:"field"`
	Provider      string `json:"provider"`       // fixed provider; default fcm (androidpush) or apns (iospush)
	ProviderField string `json:"provider_field"` // or the field that holds it
}

// UnmarshalJSON accepts a field name or {field, provider, provider_field}.
func (p *Push) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &p.Field)
	}
	type plain Push
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode((*plain)(p))
}

// Properties selects property fields: every field not mapped elsewhere when Include is empty,
// else only those in Include; never those in Exclude. Exclude ["*"] sets no properties.
type Properties struct {
	Include []string `json:"include"`
	Exclude []string `json:"exclude"`
}

// Default returns the mapping a format uses when none is given: for segment, SuprSend's own
// Segment connector's defaults (userId is the distinct_id, traits.email the email,
// traits.phone the sms, every other trait a property); for debezium an empty mapping, which
// fails Validate (distinct_id is required).
func Default(f Format) Mapping {
	if f == FormatSegment {
		return Mapping{DistinctID: "userId", Channels: Channels{Email: "traits.email", SMS: "traits.phone"}, OnDelete: DeleteRemove}
	}
	return Mapping{OnDelete: DeleteRemove}
}

// Load reads a mapping file (YAML or JSON) over the format's defaults and validates it. Its
// errors name the file, the YAML path and the rule.
func Load(path string, f Format) (Mapping, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Mapping{}, fmt.Errorf("mapping: %w", err)
	}
	m, err := Parse(raw, f)
	if err != nil {
		return Mapping{}, fmt.Errorf("mapping %s: %w", path, err)
	}
	return m, nil
}

// Parse reads a mapping (YAML or JSON) over the format's defaults and validates it. Unknown
// keys are refused.
func Parse(raw []byte, f Format) (Mapping, error) {
	m := Default(f)
	if len(bytes.TrimSpace(raw)) > 0 {
		var generic any
		if err := yaml.Unmarshal(raw, &generic); err != nil {
			return Mapping{}, fmt.Errorf("not YAML: %s", strings.TrimPrefix(err.Error(), "error converting YAML to JSON: "))
		}
		if err := checkShape(generic, mappingShape, ""); err != nil {
			return Mapping{}, err
		}
		if err := yaml.UnmarshalStrict(raw, &m); err != nil { // cannot fail once the shape holds
			return Mapping{}, err
		}
	}
	return m, m.Validate(f)
}

// field is one mapped field and the YAML path that maps it.
type field struct{ path, yamlPath string }

// fields lists the mapped fields (not properties) with their YAML paths.
func (m Mapping) fields() []field {
	var fs []field
	add := func(p, y string) {
		if p != "" {
			fs = append(fs, field{p, y})
		}
	}
	add(m.DistinctID, "distinct_id")
	add(m.Channels.Email, "channels.email")
	add(m.Channels.SMS, "channels.sms")
	add(m.Channels.WhatsApp, "channels.whatsapp")
	if p := m.Channels.AndroidPush; p != nil {
		add(p.Field, "channels.androidpush.field")
		add(p.ProviderField, "channels.androidpush.provider_field")
	}
	if p := m.Channels.IOSPush; p != nil {
		add(p.Field, "channels.iospush.field")
		add(p.ProviderField, "channels.iospush.provider_field")
	}
	add(m.Channels.WebPush, "channels.webpush")
	add(m.Channels.Slack, "channels.slack")
	add(m.Channels.MSTeams, "channels.ms_teams")
	add(m.PreferredLanguage, "preferred_language")
	add(m.Timezone, "timezone")
	return fs
}

// Validate names the YAML path of the first rule m breaks for format f.
func (m Mapping) Validate(f Format) error {
	if f != FormatDebezium && f != FormatSegment {
		return fmt.Errorf("format %q takes no mapping: only debezium and segment do", f)
	}
	if m.DistinctID == "" {
		return fmt.Errorf("distinct_id: is required: name the field that holds the user's distinct_id")
	}
	seen := map[string]string{}
	for _, fl := range m.fields() {
		if err := checkPath(fl.path, f); err != nil {
			return fmt.Errorf("%s: %q %v", fl.yamlPath, fl.path, err)
		}
		if prev, dup := seen[fl.path]; dup && !strings.HasSuffix(fl.yamlPath, "provider_field") {
			return fmt.Errorf("%s: field %q is already mapped by %s: a field maps to one thing", fl.yamlPath, fl.path, prev)
		}
		seen[fl.path] = fl.yamlPath
	}
	for _, p := range []struct {
		push *Push
		path string
		ok   []string
	}{{m.Channels.AndroidPush, "channels.androidpush", []string{"fcm", "xiaomi", "oppo"}}, {m.Channels.IOSPush, "channels.iospush", []string{"apns"}}} {
		if p.push == nil {
			continue
		}
		switch {
		case p.push.Field == "":
			return fmt.Errorf("%s.field: is required: name the field that holds the push token", p.path)
		case p.push.Provider != "" && p.push.ProviderField != "":
			return fmt.Errorf("%s: provider and provider_field are both set: give a fixed provider or the field that holds it, not both", p.path)
		case p.push.Provider != "" && !slices.Contains(p.ok, strings.ToLower(p.push.Provider)):
			return fmt.Errorf("%s.provider: %q is not a provider of this channel: use %s", p.path, p.push.Provider, strings.Join(p.ok, ", "))
		}
	}
	for i, k := range m.Properties.Include {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("properties.include[%d]: must not be empty", i)
		}
		if prev, mapped := seen[k]; mapped {
			return fmt.Errorf("properties.include[%d]: %q is mapped by %s: a mapped field is never a property", i, k, prev)
		}
	}
	for i, k := range m.Properties.Exclude {
		if strings.TrimSpace(k) == "" {
			return fmt.Errorf("properties.exclude[%d]: must not be empty", i)
		}
		if slices.Contains(m.Properties.Include, k) {
			return fmt.Errorf("properties.exclude[%d]: %q is also in properties.include", i, k)
		}
	}
	switch m.OnDelete {
	case DeleteRemove, DeleteDeadLetter:
	case "":
		return fmt.Errorf("on_delete: is empty: use %s or %s", DeleteRemove, DeleteDeadLetter)
	default:
		return fmt.Errorf("on_delete: %q is not a delete policy: use %s or %s", m.OnDelete, DeleteRemove, DeleteDeadLetter)
	}
	return nil
}

// checkPath checks a field path: a column name for debezium; a dotted path for segment.
func checkPath(p string, f Format) error {
	if strings.TrimSpace(p) != p || p == "" {
		return fmt.Errorf("must be a field name without surrounding spaces")
	}
	if f == FormatSegment {
		for _, part := range strings.Split(p, ".") {
			if part == "" {
				return fmt.Errorf("has an empty segment: write a dotted path such as traits.email")
			}
		}
	}
	return nil
}

// property reports whether key (a column, or a key of traits) is set as a property.
func (m Mapping) property(key string, mapped map[string]bool) bool {
	if mapped[key] || slices.Contains(m.Properties.Exclude, key) || slices.Contains(m.Properties.Exclude, "*") {
		return false
	}
	return len(m.Properties.Include) == 0 || slices.Contains(m.Properties.Include, key)
}
