package main

import (
	"fmt"

	"github.com/profile-ingest/profile-ingest/consumer"
	"github.com/profile-ingest/profile-ingest/profile"
	"github.com/profile-ingest/profile-ingest/profile/mapping"
)

// formatDecoder builds the decoder of one input format, its mapping loaded from mappingFile
// (a Segment topic may leave it empty for SuprSend's defaults; a Debezium topic needs one) and
// validated once. noBefore is told, once per table, of Debezium updates without a before image.
func formatDecoder(format mapping.Format, mappingFile string, opts profile.Options, noBefore func(table string)) (consumer.Decoder, error) {
	switch format {
	case mapping.FormatMutation, "":
		if mappingFile != "" {
			return nil, fmt.Errorf("a mapping is for the debezium and segment formats, not mutation")
		}
		return func(v []byte, o profile.Origin) (profile.Event, error) { return profile.Decode(v, o, opts) }, nil
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
		d, err := mapping.NewDebezium(m, opts, noBefore)
		if err != nil {
			return nil, err
		}
		return d.Decode, nil
	case mapping.FormatSegment:
		s, err := mapping.NewSegment(m, opts)
		if err != nil {
			return nil, err
		}
		return s.Decode, nil
	}
	return nil, fmt.Errorf("%q is not a format: use mutation, debezium or segment", format)
}
