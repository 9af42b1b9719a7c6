package domain

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkExtractLongMessage reads a message at the 10,000-character
// limit, dense with what every extractor looks for, for every variable type.
func BenchmarkExtractLongMessage(b *testing.B) {
	set, err := CompileVariables(fuzzVariables)
	if err != nil {
		b.Fatal(err)
	}
	unit := "AC-123456 too tight 12/03 €1.250,50 ana@example.com +44 20 7946 0958 yes 3 December not broken "
	msg := strings.Repeat(unit, 10000/len(unit))
	names := []string{"order_id", "reason", "n", "ok", "day", "refund", "price", "email", "phone"}
	now := time.Date(2025, time.January, 15, 9, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		set.Extract(names, msg, now)
	}
}
