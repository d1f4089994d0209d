package profile

// Skip is the error a decoder returns for a record that carries nothing to send and is not
// wrong: a Debezium tombstone, an update that changed no mapped column, a Segment call other
// than identify. The worker commits past it without sending or dead-lettering it, and counts it
// by Reason (profile_ingest_records_skipped_total{reason}). Decode never returns it.
type Skip struct {
	// Reason is stable and bounded, fit for a metric label: "tombstone", "no_change",
	// "segment_track", ...
	Reason string `json:"reason"`
	Msg    string `json:"msg"` // what was skipped, for a log line
}

// Error returns Reason + ": " + Msg.
func (s *Skip) Error() string {
	if s.Msg == "" {
		return "skipped: " + s.Reason
	}
	return "skipped: " + s.Reason + ": " + s.Msg
}

// CheckJSON refuses what is not one well-formed JSON text in UTF-8 with the invalid_json
// *Error Decode gives; decoders of other formats use it so that their refusals read alike.
func CheckJSON(data []byte) error {
	if e := checkJSON(data); e != nil {
		return e
	}
	return nil
}

// KindName names the JSON type of a well-formed value for an error: "a string", "an
// object", ... It is "nothing" for an empty value.
func KindName(v []byte) string {
	v = trim(v)
	if len(v) == 0 {
		return "nothing"
	}
	return kindName(v)
}
