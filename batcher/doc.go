// Package batcher groups identity events into bulk request bodies by record count, body bytes
// and age. A Batcher is passive and owned by one goroutine, which also owns its timer.
//
// A Batcher starts no goroutines and holds no locks. The owner calls Add for every record,
// sends the chunks Add returns, arms a timer for Deadline and calls Flush(FlushLinger) when it
// fires, and calls Flush(FlushShutdown) or Flush(FlushRevoke) when it stops or loses partitions.
//
// Each record body is copied once, into the open chunk's body; the body of a closed chunk is the
// exact JSON array that will be sent ("[" + bodies joined by "," + "]"), and it never holds more
// than Config.MaxRecords records or more than Config.MaxBytes bytes, brackets and commas
// included. Records keep the order in which they were added.
package batcher
