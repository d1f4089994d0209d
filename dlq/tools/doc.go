// Package tools reads a dead-letter topic back for operators: it parses dead letters, summarises
// them, replays them to their origin topic resumably through a consumer group, and purges what
// nobody will fix. A Scanner may serve several calls one after another; a Replayer is owned by
// one goroutine.
//
// Every batch a replay publishes is recorded in the replay journal, the topic "<dlq>.replays"
// (JournalTopic) beside the dead-letter topic, after the batch is published and before the
// replay group's offset is committed: a crash can leave replayed records unjournalled for a
// while (they are published again by the next run, and journalled then) but the journal never
// names a replay that did not happen (journal.go). A Summary given the Journal counts replayed
// dead letters, and where they went, apart from those never replayed.
//
// A purge (purge.go) deletes a prefix of each partition with Kafka's DeleteRecords: the records
// before the first one it does not select (replayed per the journal or superseded by a later
// copy, and/or written before a time). PlanPurge changes nothing; ExportPurge writes what a plan
// deletes as JSON lines; ExecutePurge deletes; CheckNoReplay refuses while a replay of the topic
// holds a lock group.
package tools
