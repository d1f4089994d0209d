// Package hubsim is a SuprSend-compatible event endpoint for tests, demos and benchmarks: it
// verifies signatures, enforces the platform's limits, applies operations to stored profiles and
// injects faults on demand. A Server is safe for concurrent use.
//
// POST /event/ takes one identity event or an array of them, signed as SuprSend's server SDKs
// sign (sender.Sign). A request is all or nothing, as the platform answers one status per
// request: any invalid event makes it a 400 naming the event's index and problem, and nothing
// of it is applied; a valid one is answered 202 "OK" and applied in order, under one lock, so
// requests apply one after the other. An $insert_id already applied is skipped and counted as
// a duplicate (within Config.DedupWindow). Bodies are checked and parsed in one pass
// (parse.go); encoding/json stays the reference that judges any event of unusual shape and
// words every refusal.
//
// Inspection and control: GET /_sim/profiles/{distinct_id}, GET /_sim/stats, POST /_sim/reset,
// GET and POST /_sim/faults (see Faults). In-process users call the same operations as
// methods, or serve Handler themselves; Start listens on an address and Run serves until its
// context ends.
package hubsim
