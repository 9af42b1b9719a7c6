package domain

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAppendTimeTextIsAppendText holds appendTimeText to AppendText, byte
// for byte and error for error: times at random over the years it writes
// and past them on both sides, the edges of days, years and its range,
// nanoseconds with every count of trailing zeros, and zones of whole
// hours, odd minutes and seconds, at and past a day, east and west.
func TestAppendTimeTextIsAppendText(t *testing.T) {
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("ist", 5*3600+30*60), time.FixedZone("w", -8*3600),
		time.FixedZone("nfld", -(3*3600 + 30*60)), time.FixedZone("s", 45), time.FixedZone("m", -90),
		time.FixedZone("day", 23*3600+59*60), time.FixedZone("-day", -(23*3600 + 59*60)), time.FixedZone("over", 24*3600),
		time.FixedZone("under", -24*3600), time.FixedZone("far", 30*3600), time.FixedZone("zero", 0)}
	check := func(at time.Time) {
		want, wantErr := at.AppendText([]byte("x"))
		got, err := appendTimeText([]byte("x"), at)
		require.Equal(t, wantErr, err, "%v", at)
		require.Equal(t, string(want), string(got), "%v", at)
	}
	edges := []int64{0, 1, 86399, 86400, 951782400, 951868800, 4107542400, year10000 - 1, year10000, -1, -86400,
		-62135596800, -62167219200, 253402300799 + 86400}
	nanos := []int{0, 1, 9, 10, 100, 120, 999999999, 100000000, 123456780, 500000000, 1000, 7000000}
	for _, z := range zones {
		for _, sec := range edges {
			for _, ns := range nanos {
				check(time.Unix(sec, int64(ns)).In(z))
			}
		}
		check(time.Time{}.In(z))
	}
	check(time.Time{})
	check(time.Now())
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		sec := rng.Int64N(year10000+2*86400*366) - 86400*366
		if rng.IntN(8) == 0 {
			sec = rng.Int64N(4*year10000) - 2*year10000
		}
		ns := rng.IntN(1000000000)
		if rng.IntN(2) == 0 {
			ns -= ns % []int{10, 1000, 1000000, 100000000, 1000000000}[rng.IntN(5)]
		}
		check(time.Unix(sec, int64(ns)).In(zones[rng.IntN(len(zones))]))
	}
}

// BenchmarkAppendTimeText is a session's time as a commit writes it.
func BenchmarkAppendTimeText(b *testing.B) {
	at := time.Date(2026, 12, 6, 2, 3, 4, 123456789, time.Local)
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf, _ = appendTimeText(buf[:0], at)
	}
}
