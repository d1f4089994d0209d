// Package tools reads a dead-letter topic back for operators: it parses dead letters, summarises
// them, and replays them to their origin topic resumably through a consumer group. A Scanner may
// serve several calls one after another; a Replayer is owned by one goroutine.
package tools
