// Package sender signs bulk chunks, posts them to SuprSend's event endpoint with retries, and
// reports the fate of every record. A Sender is safe for concurrent use.
//
// Send is synchronous: it signs the chunk as the official SDKs do (Sign), retries transport
// errors, 408, 429 and 5xx with capped, jittered exponential backoff (a Retry-After wins over
// the computed wait), splits a chunk the API refuses with another 4xx until the refused records
// are isolated, and returns one Result per record, in input order. 401 and 403 fail nothing:
// the Sender reports not-ready (Ready), holds new chunks back, and keeps retrying until the
// credentials work again or the context ends. A redirect (3xx) is never followed: it means the
// base URL is wrong, and is handled as a 401. Config.MaxElapsedTime is one budget per chunk.
//
// A Dispatcher runs several Sends at once while keeping per-distinct_id order: a chunk starts
// only when no earlier unresolved chunk shares a key with it. Its callbacks run on its own
// goroutines; Submit and Wait are safe for concurrent use.
package sender
