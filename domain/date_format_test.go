package domain

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestDateFormatIsFormat checks DateFormat against time.Time.Format on
// times spread over centuries (negative and five-digit years among them)
// in several locations, in an order that keeps replacing the kept string
// and one that reuses it.
func TestDateFormatIsFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	zones := []*time.Location{time.UTC, time.FixedZone("east", 14*3600), time.FixedZone("west", -12*3600)}
	for _, layout := range []string{DateLayout, "2006-01", "02.01.2006"} {
		f := NewDateFormat(layout)
		base := time.Date(2026, 12, 5, 23, 30, 0, 0, time.UTC)
		for i := range 20000 {
			var at time.Time
			if i%2 == 0 {
				at = base.Add(time.Duration(r.IntN(96)) * time.Hour) // a few days: the kept string reused
			} else {
				at = time.Unix(r.Int64N(1<<40)-1<<39, 0) // anywhere: the kept string replaced
			}
			at = at.In(zones[r.IntN(len(zones))])
			if got, want := f.Format(at), at.Format(layout); got != want {
				t.Fatalf("%s: Format(%v) = %q, want %q", layout, at, got, want)
			}
		}
	}
}
