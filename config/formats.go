package config

// TopicFormat is the input format of one topic, with the mapping file of a debezium or segment
// topic (see deploy/mapping.example.yaml). The worker loads and validates the mapping at start.
type TopicFormat struct {
	Format  string `json:"format"`  // mutation (the default), debezium or segment
	Mapping string `json:"mapping"` // the mapping file; required for debezium, optional for segment
}

// validateFormats checks kafka.formats: every key a consumed topic, every format known.
func (k Kafka) validateFormats(bad func(field string, value any, rule string)) {
	for topic, f := range k.Formats {
		field := "kafka.formats." + topic
		known := false
		for _, t := range k.Topics {
			known = known || t == topic
		}
		if !known {
			bad(field, topic, "is not one of kafka.topics")
		}
		switch f.Format {
		case "", "mutation":
			if f.Mapping != "" {
				bad(field+".mapping", f.Mapping, "is for the debezium and segment formats only")
			}
		case "debezium":
			if f.Mapping == "" {
				bad(field+".mapping", `""`, "a debezium topic needs a mapping file (at least distinct_id; see deploy/mapping.example.yaml)")
			}
		case "segment":
		default:
			bad(field+".format", f.Format, "use mutation, debezium or segment")
		}
	}
}
