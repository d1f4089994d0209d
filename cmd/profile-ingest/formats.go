package main

import (
	"fmt"

	"github.com/rs/zerolog"

	"github.com/profile-ingest/profile-ingest/config"
	"github.com/profile-ingest/profile-ingest/consumer"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/profile/mapping"
)

// formatDecoder builds the decoder of one input format, its mapping loaded from mappingFile
// (a Segment topic may leave it empty for SuprSend's defaults; a Debezium topic needs one) and
// validated once. noBefore is told, once per table, of Debezium updates without a before image.
func formatDecoder(format mapping.Format, mappingFile string, dec *profile.Decoder, noBefore func(table string)) (consumer.Decoder, error) {
	switch format {
	case mapping.FormatMutation, "":
		if mappingFile != "" {
			return nil, fmt.Errorf("a mapping is for the debezium and segment formats, not mutation")
		}
		return dec.DecodeTo, nil
	}
	m := mapping.Default(format)
	var err error
	switch {
	case mappingFile != "":
		m, err = mapping.Load(mappingFile, format)
	case format == mapping.FormatDebezium:
		err = fmt.Errorf("the debezium format needs a mapping file (at least distinct_id); see deploy/mapping.example.yaml")
	}
	if err != nil {
		return nil, err
	}
	switch format {
	case mapping.FormatDebezium:
		d, err := mapping.NewDebezium(m, dec, noBefore)
		if err != nil {
			return nil, err
		}
		return consumer.IgnoreBuf(d.Decode), nil
	case mapping.FormatSegment:
		s, err := mapping.NewSegment(m, dec)
		if err != nil {
			return nil, err
		}
		return consumer.IgnoreBuf(s.Decode), nil
	}
	return nil, fmt.Errorf("%q is not a format: use mutation, debezium or segment", format)
}

// topicDecoders builds one decoder per consumed topic from kafka.formats (mutation for a topic
// left out), each mapping loaded and validated once, and returns the decoder the worker calls,
// which picks by the record's topic. A Debezium table whose updates come without a before image
// is warned about once.
func topicDecoders(k config.Kafka, mutation *profile.Decoder, log zerolog.Logger) (consumer.Decoder, error) {
	byTopic := make(map[string]consumer.Decoder, len(k.Topics))
	for _, topic := range k.Topics {
		tf := k.Formats[topic]
		noBefore := func(table string) {
			log.Warn().Str("topic", topic).Str("table", table).
				Msg("an update or delete of this table came without a before image (its REPLICA IDENTITY is not FULL): a changed or cleared channel cannot remove the old value; run ALTER TABLE ... REPLICA IDENTITY FULL")
		}
		dec, err := formatDecoder(mapping.Format(tf.Format), tf.Mapping, mutation, noBefore)
		if err != nil {
			return nil, fmt.Errorf("config: kafka.formats.%s: %w", topic, err)
		}
		if tf.Format != "" && tf.Format != string(mapping.FormatMutation) {
			log.Info().Str("topic", topic).Str("format", tf.Format).Str("mapping", tf.Mapping).Msg("input format")
		}
		byTopic[topic] = dec
	}
	if len(byTopic) == 1 {
		return byTopic[k.Topics[0]], nil
	}
	return func(buf, v []byte, o profile.Origin) (profile.Event, error) {
		dec, ok := byTopic[o.Topic]
		if !ok { // not a consumed topic: cannot happen; refuse rather than guess its format
			return profile.Event{}, &profile.Error{Reason: profile.ReasonInvalidMessage, Msg: "topic " + o.Topic + " is not consumed by this worker"}
		}
		return dec(buf, v, o)
	}, nil
}
