// Package dlq writes records that cannot be delivered to a dead-letter topic, with their reason,
// and gives operators the tools to inspect, replay and drain it.
package dlq
