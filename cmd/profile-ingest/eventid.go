package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strconv"

	"github.com/google/uuid"
)

// backfillNamespace is the UUIDv5 namespace of the event_ids publish derives:
// uuid.NewSHA1(uuid.NameSpaceURL, "https://github.com/profile-ingest/profile-ingest/backfill-event-id").
var backfillNamespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/profile-ingest/profile-ingest/backfill-event-id"))

// backfillEventID is the event_id publish gives line n of the file called name when the line
// has none: a UUIDv5 of the name, the line number and the SHA-256 of the line. Publishing the
// same file again gives every line the same id, so SuprSend deduplicates it (increment and
// append are not applied twice); a line that was edited gets a new id, as it is a new mutation;
// two identical lines at different places stay two mutations.
func backfillEventID(name string, n int, line []byte) string {
	sum := sha256.Sum256(line)
	return uuid.NewSHA1(backfillNamespace, []byte(name+"\n"+strconv.Itoa(n)+"\n"+hex.EncodeToString(sum[:]))).String()
}

// withEventID returns line with "event_id" first when it is a v1 message (a JSON object with
// no "$user_operations", which carries "$insert_id" instead) without one; any other line is
// returned unchanged, byte for byte.
func withEventID(line []byte, name string, n int) []byte {
	var fields map[string]json.RawMessage
	if json.Unmarshal(line, &fields) != nil {
		return line // not an object: the worker will dead-letter it, unchanged
	}
	if _, ok := fields["event_id"]; ok {
		return line
	}
	if _, ok := fields["$user_operations"]; ok {
		return line
	}
	open := bytes.IndexByte(line, '{')
	id, _ := json.Marshal(backfillEventID(name, n, line))
	out := make([]byte, 0, len(line)+len(id)+14)
	out = append(out, line[:open+1]...)
	out = append(out, `"event_id":`...)
	out = append(out, id...)
	if len(fields) > 0 {
		out = append(out, ',')
	}
	return append(out, line[open+1:]...)
}

// fileIdentity is the name a file's derived event_ids hang on: --id-name when given, else the
// file's base name ("stdin" for standard input), so a file published again from another
// directory gets the same ids.
func (c *publishCmd) fileIdentity(path string) string {
	switch {
	case c.IDName != "":
		return c.IDName
	case path == c.stdinSpool:
		return "stdin"
	}
	return filepath.Base(path)
}
