// Package consumer reads profile mutations from a Kafka consumer group, drives them through
// profile, batcher and sender, and commits offsets only once every earlier record is resolved.
// A Worker is started once with Run and owns all of its goroutines.
package consumer
