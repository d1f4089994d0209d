// Package consumer reads profile mutations from a Kafka consumer group, drives them through
// profile, batcher and sender, and commits offsets only once every earlier record is resolved.
// A Worker is started once with Run and owns all of its goroutines: per consumer-group
// generation, one fetch loop (fetcher.go: one fetch request per broker for the owned partitions
// it leads, through kafka-go's Transport and internal/kafkafetch, bounded by the in-flight byte
// budget, transactions read as the isolation level says, compacted batch tails crossed at their
// last offset: answer.go),
// consumer.decode_workers goroutines that decode the fetched records beside the pipeline and
// hand them over in fetch order (decode.go), one pipeline goroutine that owns the offsets, the
// batchers (lanes whose chunks take records of every owned partition; see pipeline.lanes) and
// the in-flight records, and one dead-letter writer. The Decoder it is given is called from
// the decode goroutines at once.
package consumer
