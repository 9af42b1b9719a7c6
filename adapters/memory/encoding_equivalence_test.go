//go:build !race

// The encoder's equivalence tests: each compares a hand-written writer
// with encoding/json or strconv over hundreds of thousands of values,
// sequential work the race detector slows tenfold and has nothing to
// find in. They build without it; make test runs them in a pass without
// -race (scripts/test.sh). The writers run under -race in the package's
// other tests.

package memory

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// The audit record written with tokens reads back as json.Marshal's bytes
// over many turns drawn at random: scores of every kind (a token's eight
// bytes hold bytes below the space too), lexical scores equal to the
// score or not, strings holding what a token is or stands for, step
// timings of the pipeline's steps (written by number) and others.
func TestTokenedAuditIsMarshal(t *testing.T) {
	enc := encoders.Get().(*encoder)
	defer encoders.Put(enc)
	rng := rand.New(rand.NewPCG(21, 22))
	for i := range 5000 {
		requireAuditIsMarshal(t, enc, randomTokenTurn(rng), "random turn")
		if t.Failed() {
			t.Fatalf("turn %d", i)
		}
	}
}

// A float written as whole thousandths is strconv's shortest form byte for
// byte: over thousandths of every size up to where the shortcut stops and
// past it, their neighbours, and random bits; and every step timing as
// the pipeline makes them (microseconds over 1000) takes the shortcut.
func TestMillisAreStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	floats := []float64{0, math.Copysign(0, -1), 0.001, -0.001, 0.009, 0.01, 0.1, 1, 210.965, 0.079, 999.999, 1000, 1e9 + 0.5,
		1 << 39, -(1 << 39), 1<<39 - 0.001, math.MaxFloat64, math.SmallestNonzeroFloat64, 1e-7, 1e21}
	for range 60000 {
		for _, n := range []int64{rng.Int64N(1 << 50), rng.Int64N(1<<39*1000+1<<40) - (1<<39*1000)/2, int64(rng.Uint64()) >> rng.IntN(64)} {
			f := float64(n) / 1000
			floats = append(floats, f, -f, math.Nextafter(f, math.Inf(1)), math.Nextafter(f, math.Inf(-1)), f*1000)
		}
		floats = append(floats, math.Float64frombits(rng.Uint64()))
	}
	taken := 0
	for _, f := range floats {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		got, ok := appendMillis([]byte("x"), f)
		if !ok {
			require.Equal(t, "x", string(got), "nothing appended for %v", f)
			continue
		}
		require.Equal(t, string(appendFloatSlow([]byte("x"), f)), string(got), "%v (%x)", f, math.Float64bits(f))
		taken++
	}
	t.Logf("%d of %d floats written as thousandths", taken, len(floats))
	for range 50000 {
		f := float64(rng.Int64N(1_000_000_000)) / 1000 // up to 1,000 s
		got, ok := appendMillis(nil, f)
		require.True(t, ok, "%v", f)
		require.Equal(t, string(appendFloatSlow(nil, f)), string(got), "%v", f)
	}
}

// A float between 1e-6 and 1 written by appendFraction (Schubfach) is
// strconv's 'f' form byte for byte: over uniform and log-uniform draws,
// ratios as scores are, decimals of every length, powers of two, the ends
// of the range and their neighbours, negated too.
func TestFractionsAreStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	floats := []float64{1e-6, 0.1, 0.5, 0.9999999999999999, 1e-5, 0.000123, 1.0 / 3}
	for _, f := range []float64{1e-6, 1} {
		floats = append(floats, math.Nextafter(f, 0), math.Nextafter(f, 2))
	}
	// Powers of two, whose float below is nearer than the one above (a
	// case of its own in Schubfach), and their neighbours.
	for p := 1; p <= 20; p++ {
		f := math.Ldexp(1, -p)
		floats = append(floats, f, math.Nextafter(f, 0), math.Nextafter(f, 1))
	}
	// Decimals of every length up to 17 digits, whose shortest form may
	// be a digit shorter than Schubfach's first guess, and their
	// neighbours.
	for m := 1; m <= 17; m++ {
		for range 3000 {
			f := float64(rng.Int64N(int64(math.Pow10(m)))) / math.Pow10(m)
			floats = append(floats, f, math.Nextafter(f, 0), math.Nextafter(f, 1))
		}
	}
	for range 100000 {
		floats = append(floats, rng.Float64(), math.Pow(10, -6*rng.Float64()), float64(rng.IntN(1000))/float64(1+rng.IntN(100000)),
			math.Float64frombits(rng.Uint64N(math.Float64bits(1)-math.Float64bits(1e-6))+math.Float64bits(1e-6)))
	}
	taken := 0
	for _, f := range floats {
		for _, f := range []float64{f, -f} {
			if a := math.Abs(f); a < 1e-6 || a >= 1 {
				continue
			}
			got, ok := appendFraction([]byte("x"), f)
			require.True(t, ok, "%v", f)
			require.Equal(t, string(appendFloatSlow([]byte("x"), f)), string(got), "%v (%x)", f, math.Float64bits(f))
			taken++
		}
	}
	require.Greater(t, taken, 900000)
}

// putDigits writes strconv's digits: for every length, powers of ten and
// their neighbours, and random bits.
func TestPutDigitsIsStrconvs(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	values := []uint64{0, 1, 9, math.MaxUint64}
	for p := uint64(1); p <= 1e19; p *= 10 {
		values = append(values, p-1, p, p+1)
	}
	for range 200000 {
		values = append(values, rng.Uint64()>>rng.IntN(64))
	}
	var buf [20]byte
	for _, d := range values {
		i := putDigits(&buf, d)
		require.Equal(t, strconv.FormatUint(d, 10), string(buf[i:]), "%d", d)
	}
}

// appendEscaped quotes a string as json.Marshal does, byte for byte: over
// strings drawn from pieces that need escaping or not (line breaks,
// quotes, control bytes, HTML characters, U+2028 and U+2029, other
// multi-byte runes, invalid and cut UTF-8), long runs of plain ones
// between, and over random bytes.
func TestEscapedIsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	pieces := []string{"a", "Find out when the card was ordered.", "\n", "\r\n", "\t", `"`, `\`, "<", ">", "&", "\x00", "\x1f", "\x7f",
		"\b", "\f", "é", "€", "😀", "\u2028", "\u2029", "\u2027", "\xff", "\xe2\x80", "\xed\xa0\x80", " "}
	strs := []string{""}
	for range 20000 {
		var s []byte
		for range rng.IntN(40) {
			s = append(s, pieces[rng.IntN(len(pieces))]...)
		}
		strs = append(strs, string(s))
		raw := make([]byte, rng.IntN(40))
		for i := range raw {
			raw[i] = byte(rng.Uint32())
		}
		strs = append(strs, string(raw))
	}
	for _, s := range strs {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(appendEscaped([]byte("x"), s)[1:]), "%q", s)
	}
}
