// Package sender signs bulk chunks, posts them to SuprSend's event endpoint with retries, and
// reports the fate of every record. A Sender is safe for concurrent use.
package sender
