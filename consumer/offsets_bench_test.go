package consumer

import "testing"

// BenchmarkOffsets is the tracker's cost per record: added in order, resolved a chunk at a time
// out of order (the second half of each 400 before the first), as parallel chunks resolve.
func BenchmarkOffsets(b *testing.B) {
	tp := TopicPartition{"t", 0}
	o := NewOffsets()
	o.Assign(tp, 0)
	const chunk = 400
	var next int64
	b.ReportAllocs()
	for b.Loop() {
		for i := range int64(chunk) {
			_ = o.Add(tp, next+i)
		}
		for i := int64(chunk / 2); i < chunk; i++ {
			_ = o.Resolve(tp, next+i)
		}
		for i := range int64(chunk / 2) {
			_ = o.Resolve(tp, next+i)
		}
		next += chunk
	}
	b.ReportMetric(float64(b.N*chunk)/b.Elapsed().Seconds(), "records/s")
}
