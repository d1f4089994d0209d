// Package profile decodes and validates profile-mutation messages and turns each into the
// SuprSend identity event the official SDKs would send for the same calls. Its functions are
// pure and safe for concurrent use; a Mutation builder is owned by one goroutine.
package profile
