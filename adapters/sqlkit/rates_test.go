package sqlkit

import (
	"testing"
	"time"
)

// Once a request found its window full, the rest of that window is refused
// without a statement, for that key and limit only; the next window asks
// the store again.
func TestWindowsRefuseAFullWindowWithoutAStatement(t *testing.T) {
	w := NewWindows()
	stored := map[string]int{} // the store: key and window start → count
	statements := 0
	take := func(now time.Time, key string, limit int) bool {
		t.Helper()
		d, err := w.Take(now, key, limit, time.Minute, func(start time.Time, _ int64) (int, error) {
			statements++
			k := key + start.String()
			if stored[k] >= limit {
				return limit + 1, nil
			}
			stored[k]++
			return stored[k], nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return d.Allowed
	}
	at := time.Unix(1_700_000_080, 0) // 40 s into a minute window
	for i := range 2 {
		if !take(at, "k", 2) {
			t.Fatalf("request %d of a window of 2 was refused", i+1)
		}
	}
	sent := statements
	if take(at.Add(time.Second), "k", 2) || take(at.Add(2*time.Second), "k", 2) {
		t.Fatal("a request beyond the limit was allowed")
	}
	if statements != sent {
		t.Fatalf("a window seen full still cost %d statements", statements-sent)
	}
	if !take(at, "other", 2) || statements != sent+1 {
		t.Fatal("another key's window was taken for full")
	}
	if !take(at.Add(30*time.Second), "k", 2) || statements != sent+2 {
		t.Fatal("the next window was not asked for")
	}
}
