// Package hubsim is a SuprSend-compatible event endpoint for tests, demos and benchmarks: it
// verifies signatures, enforces the platform's limits, applies operations to stored profiles and
// injects faults on demand. A Server is safe for concurrent use.
package hubsim
