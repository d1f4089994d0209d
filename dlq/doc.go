// Package dlq writes records that cannot be delivered to a dead-letter topic, with their reason
// in headers whose names and formats (headers.go) are the contract the operator tools in
// package dlq/tools read back. A Writer is safe for concurrent use.
package dlq
