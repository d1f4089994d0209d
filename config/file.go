package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// Source is the file a configuration was loaded from and the line each field is written on,
// by its YAML path ("kafka.brokers"). It is empty for a configuration without a file.
type Source struct {
	File  string
	Lines map[string]int
	// Flags names the command-line flag that set a field, when one did (it wins over the file):
	// "sender.max_in_flight" → "--max-in-flight".
	Flags map[string]string
}

// Locate adds to every *FieldError in err (a single one, or joined) the flag that set its
// field, else the file and line that wrote it, so an error says where the value came from.
func (s Source) Locate(err error) error {
	if err == nil || len(s.Lines)+len(s.Flags) == 0 {
		return err
	}
	var out []error
	for _, e := range Errors(err) {
		if fe, ok := errors.AsType[*FieldError](e); ok && fe.Line == 0 {
			located := *fe
			if flag, ok := find(s.Flags, fe.Field); ok {
				located.Flag = flag
			} else if line, ok := find(s.Lines, fe.Field); ok {
				located.File, located.Line = s.File, line
			}
			e = &located
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// Errors lists the errors errors.Join joined in err, at any depth (Validate's, LoadFile's),
// so a caller can report each *FieldError apart; nil is none.
func Errors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, Errors(e)...)
		}
		return out
	}
	return []error{err}
}

// find returns what m says of field or, for an element of a list (kafka.brokers[1]), of the
// list. A field the file left at its default has no line.
func find[V any](m map[string]V, field string) (V, bool) {
	if i := strings.LastIndexByte(field, '['); i > strings.LastIndexByte(field, '.') {
		field = field[:i]
	}
	v, ok := m[field]
	return v, ok
}

// FieldError is one field of the configuration that is wrong: the YAML path, its value as
// written, the rule it breaks, and the file and line when known. It prints as
// `config: kafka.brokers "k1:9092" (c.yaml line 3): must be a list, …`.
type FieldError struct {
	Field string // the YAML path: "kafka.fetch_max_bytes"
	Value string // as the user wrote it, or "" when there is nothing to show
	Rule  string
	File  string
	Line  int    // 0: not from a file, or unknown
	Flag  string // the flag that set it, if one did: "--linger"
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	b.WriteString(e.Field)
	if e.Value != "" {
		b.WriteString(" ")
		b.WriteString(e.Value)
	}
	switch {
	case e.Flag != "":
		fmt.Fprintf(&b, " (%s)", e.Flag)
	case e.Line > 0 && e.File != "":
		fmt.Fprintf(&b, " (%s line %d)", e.File, e.Line)
	case e.Line > 0:
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	b.WriteString(": ")
	b.WriteString(e.Rule)
	return b.String()
}

// checkYAML walks the YAML document against Config's fields (by their json tags) before it is
// decoded, and returns where each field is written. Every mistake is reported in the user's
// terms, with the YAML path and the line: a field that does not exist (with the closest one),
// a list written as a single value, a duration written as a number, a number or a flag of the
// wrong kind. sigs.k8s.io/yaml, which decodes, sees only the JSON it converts the file to, so it
// can neither say where a mistake is nor talk about anything but Go types; this walk needs
// the node tree of go.yaml.in/yaml/v3 for that.
func checkYAML(file string, raw []byte) (Source, error) {
	src := Source{File: file, Lines: map[string]int{}}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return src, nil // an empty file: the defaults
		}
		return src, fmt.Errorf("config: %s is not valid YAML or JSON: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var errs []error
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if isNull(root) {
		return src, nil
	}
	walk(root, "", reflect.TypeFor[Config](), src, &errs)
	return src, errors.Join(errs...)
}

var durationType = reflect.TypeFor[Duration]()

// walk checks node against the Go type t at the YAML path.
func walk(node *yaml.Node, path string, t reflect.Type, src Source, errs *[]error) {
	for node.Kind == yaml.AliasNode && node.Alias != nil {
		node = node.Alias
	}
	bad := func(rule string, value string) {
		*errs = append(*errs, &FieldError{Field: path, Value: value, Rule: rule, File: src.File, Line: node.Line})
	}
	if isNull(node) {
		return // the default stays
	}
	switch {
	case t == durationType:
		if node.Kind != yaml.ScalarNode {
			bad(`must be a duration such as "100ms", "30s" or "2m"`, "")
			return
		}
		if node.Tag != "!!str" {
			bad(fmt.Sprintf(`must be a duration with its unit, such as "%sms" or "%ss" (a bare number has no unit)`, node.Value, node.Value), node.Value)
			return
		}
		if _, err := time.ParseDuration(node.Value); err != nil {
			bad(`must be a duration such as "100ms", "30s" or "2m" (units: ns, us, ms, s, m, h)`, strconv.Quote(node.Value))
		}
	case t.Kind() == reflect.Struct:
		if node.Kind != yaml.MappingNode {
			what := "a section of fields (" + strings.Join(fieldNames(t), ", ") + ")"
			if path == "" {
				bad("the file must be a mapping of sections (kafka, suprsend, …)", "")
				return
			}
			bad("must be "+what, shown(node))
			return
		}
		walkMapping(node, path, t, src, errs)
	case t.Kind() == reflect.Slice:
		if node.Kind != yaml.SequenceNode {
			bad(fmt.Sprintf("must be a list, such as [%s] or one \"- item\" per line", listExample(node)), shown(node))
			return
		}
		for i, item := range node.Content {
			walk(item, fmt.Sprintf("%s[%d]", path, i), t.Elem(), src, errs)
		}
	case t.Kind() == reflect.String:
		if node.Kind != yaml.ScalarNode {
			bad("must be a single value (text), not a list or a section", "")
		} else if node.Tag != "!!str" {
			bad(fmt.Sprintf("must be text: quote it (%q) if that is the value you mean", node.Value), node.Value)
		}
	case t.Kind() == reflect.Bool:
		if node.Kind != yaml.ScalarNode || node.Tag != "!!bool" {
			bad("must be true or false", shown(node))
		}
	case t.Kind() == reflect.Int:
		if node.Kind != yaml.ScalarNode || node.Tag != "!!int" {
			bad("must be a whole number", shown(node))
		}
	case t.Kind() == reflect.Float64:
		if node.Kind != yaml.ScalarNode || (node.Tag != "!!int" && node.Tag != "!!float") {
			bad("must be a number", shown(node))
		}
	}
}

// walkMapping checks each key of a mapping against the struct's fields.
func walkMapping(node *yaml.Node, path string, t reflect.Type, src Source, errs *[]error) {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		fields[name] = f.Type
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(node.Content); i += 2 {
		key, value := node.Content[i], node.Content[i+1]
		if first, ok := seen[key.Value]; ok {
			*errs = append(*errs, &FieldError{Field: join(path, key.Value), File: src.File, Line: key.Line,
				Rule: fmt.Sprintf("is written twice (first at line %d): the second would silently replace the first; merge them", first)})
			continue
		}
		seen[key.Value] = key.Line
		if key.Value == "<<" && key.Tag == "!!merge" { // a YAML merge of an anchored section
			walk(value, path, t, src, errs)
			continue
		}
		p := join(path, key.Value)
		ft, ok := fields[key.Value]
		if !ok {
			rule := "is not a field"
			if path == "" {
				rule = "is not a section"
			}
			if near := closest(key.Value, sortedKeys(fields)); near != "" {
				rule += fmt.Sprintf("; did you mean %s?", near)
			} else {
				rule += " (" + strings.Join(sortedKeys(fields), ", ") + ")"
			}
			*errs = append(*errs, &FieldError{Field: p, Rule: rule, File: src.File, Line: key.Line})
			continue
		}
		src.Lines[p] = key.Line
		walk(value, p, ft, src, errs)
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// shown is a node's value for an error message: a scalar as written, else nothing.
func shown(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	if n.Tag == "!!str" {
		return strconv.Quote(n.Value)
	}
	return n.Value
}

// listExample writes a single value as the one-element list the user probably meant.
func listExample(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && n.Value != "" {
		return strconv.Quote(n.Value)
	}
	return `"a", "b"`
}

func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// closest returns the candidate nearest to s by edit distance when it is near enough to be a
// typo (at most a third of the longer name, and at most 3 edits), else "".
func closest(s string, candidates []string) string {
	best, bestD := "", 4
	for _, c := range candidates {
		d := editDistance(strings.ToLower(s), c)
		if d < bestD && d*3 <= max(len(s), len(c)) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal-string-alignment distance between a and b: insertions,
// deletions, substitutions and swaps of two neighbours ("kafak") each count one.
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
