// Package profile decodes and validates profile-mutation messages and turns each into the
// SuprSend identity event the official SDKs would send for the same calls. Its functions and a
// Decoder are pure and safe for concurrent use; a Mutation builder is owned by one goroutine.
//
// A Decoder (NewDecoder checks its Options once) accepts a v1 message ({"distinct_id", "operations", "event_id", "time"}, described in
// docs/message-schema.md and schema/mutation-v1.schema.json) or an identity event built by an
// official SDK, and returns the exact bytes to send, or a *Error with a stable Reason that
// rejects the message whole. Mutation builds v1 messages in Go with the same rules. ("Pure"
// with one exception: a record with neither a message time nor a record timestamp gets the
// current time.)
package profile
