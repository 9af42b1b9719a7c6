package memory

import (
	"context"
	"testing"
	"time"

	"focal/adapters/clock"
)

// BenchmarkRateLimiterParallel is every core's requests taking from one
// tenant's bucket, as a load run's do: run it with -cpu 2 and more to see
// what the locks they share cost.
func BenchmarkRateLimiterParallel(b *testing.B) {
	l := NewRateLimiter(clock.System{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.TakeRate(ctx, "tenant:550e8400-e29b-41d4-a716-446655440000", 1e9, time.Minute); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
