// Package mapping turns the messages other systems already put on Kafka — Debezium change events
// of a users table and Segment-spec identify calls — into the same SuprSend identity events a
// profile-mutation message becomes, through a Mapping the user writes once. A Debezium or
// Segment decoder is built once from a validated Mapping and is then safe for concurrent use;
// its Decode is pure but for a once-per-table warning callback.
//
// A decoder builds the v1 mutation message the record means (add_email, remove_sms, set,
// unset, ...) and hands it to a profile.Decoder, so every rule of the mutation format holds for
// it: validation, size limits and reason codes; an error names the source field
// ("after.email") and the operation it became. A record that means nothing to send (a
// tombstone, an update of no mapped column, a Segment track call) is a *profile.Skip, which the
// worker commits past and counts.
package mapping
