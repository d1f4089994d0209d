// Package integration gives tests a real Kafka broker and helpers to create topics, produce
// keyed records and read a topic to its end. Tests that need a broker carry the build tag
// "integration"; see Broker for how one is found.
package integration
