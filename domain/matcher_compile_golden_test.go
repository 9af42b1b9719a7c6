//go:build !race

// Like the score digests, these hold on every architecture, and
// scripts/test.sh checks them on arm64 under qemu-aarch64 too.

package domain

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"math"
	"reflect"
	"slices"
	"testing"
)

// TestCompiledMatcherUnchanged pins every field a compile leaves in a
// matcher, to the bit, for conditions large enough that the competitors,
// centroids and pruning all take part. Compiling is rewritten for speed
// and memory from time to time; what it builds must not move. The digests
// were taken before the compile's buffers were reused between conditions.
func TestCompiledMatcherUnchanged(t *testing.T) {
	b77, _ := banking77Conditions(readBanking77(t, "train.csv"), 40)
	cases := []struct {
		name  string
		conds []MatcherCondition
	}{
		{"banking77", b77},
		{"synthetic1500", syntheticConditions(t, 1500, 5)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := CompileMatcher(tc.conds, MatcherOptions{Workers: 3})
			if err != nil {
				t.Fatal(err)
			}
			if got := matcherDigest(m); got != goldenMatcherDigests[tc.name] {
				t.Errorf("compiled matcher changed: digest %s, want %s", got, goldenMatcherDigests[tc.name])
			}
		})
	}
}

var goldenMatcherDigests = map[string]string{
	"banking77":     "52b4ed908559ec2d7b3fc520429438d68f1265cce0c71c047fb1020202c62e1b",
	"synthetic1500": "a85e5100a05bb29e5c0fb4879dd649f5ed611069cd8ca5c6636711e09872fc3b",
}

// matcherDigest hashes every value reachable from m's fields except the
// caches turns fill (sync and atomic types) and the workers it was
// compiled with: lengths, bits of every float, map entries in the order of
// their own digests, a feature table's entries by hash (where each sits
// depends on the order of a map it was filled from; lookups do not).
func matcherDigest(m *Matcher) string {
	h := sha256.New()
	workers := m.opts.Workers
	m.opts.Workers = 0
	hashValue(h, reflect.ValueOf(m).Elem())
	m.opts.Workers = workers
	return hex.EncodeToString(h.Sum(nil))
}

// denseLayout is the Matcher's fields the digest leaves out: smallMargins'
// dense rows are the postings again, laid out by condition, and where it
// finds each feature's weights is where the postings start, or its row;
// they were added after the digests were taken, and
// TestDenseRowsAreThePostings checks them against the postings, which
// the digest holds.
var denseLayout = map[string]bool{"denseRows": true, "denseFrom": true, "weightsAt": true}

func hashValue(h hash.Hash, v reflect.Value) {
	var buf [8]byte
	word := func(x uint64) {
		binary.LittleEndian.PutUint64(buf[:], x)
		h.Write(buf[:])
	}
	switch v.Kind() {
	case reflect.Bool:
		word(map[bool]uint64{false: 0, true: 1}[v.Bool()])
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		word(uint64(v.Int()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		word(v.Uint())
	case reflect.Float32:
		word(uint64(math.Float32bits(float32(v.Float()))))
	case reflect.Float64:
		word(math.Float64bits(v.Float()))
	case reflect.String:
		word(uint64(v.Len()))
		h.Write([]byte(v.String()))
	case reflect.Slice, reflect.Array:
		word(uint64(v.Len()))
		for i := range v.Len() {
			hashValue(h, v.Index(i))
		}
	case reflect.Pointer, reflect.Interface:
		word(map[bool]uint64{false: 0, true: 1}[v.IsNil()])
		if !v.IsNil() {
			hashValue(h, v.Elem())
		}
	case reflect.Map:
		entries := make([][]byte, 0, v.Len())
		for it := v.MapRange(); it.Next(); {
			e := sha256.New()
			hashValue(e, it.Key())
			hashValue(e, it.Value())
			entries = append(entries, e.Sum(nil))
		}
		slices.SortFunc(entries, bytes.Compare)
		word(uint64(len(entries)))
		for _, e := range entries {
			h.Write(e)
		}
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[featureTable]() {
			hashFeatureTable(h, v)
			return
		}
		if pkg := v.Type().PkgPath(); pkg == "sync" || pkg == "sync/atomic" {
			return
		}
		for i := range v.NumField() {
			if v.Type() == reflect.TypeFor[Matcher]() && denseLayout[v.Type().Field(i).Name] {
				continue
			}
			hashValue(h, v.Field(i))
		}
	default:
		panic("matcherDigest: cannot hash a " + v.Kind().String())
	}
}

// hashFeatureTable hashes the table's size and its entries by hash.
func hashFeatureTable(h hash.Hash, v reflect.Value) {
	slots := v.FieldByName("slots")
	var used []featureSlot
	for i := range slots.Len() {
		s := slots.Index(i)
		if id := int32(s.FieldByName("id").Int()); id != 0 {
			used = append(used, featureSlot{h: s.FieldByName("h").Uint(), id: id, conds: int32(s.FieldByName("conds").Int())})
		}
	}
	slices.SortFunc(used, func(a, b featureSlot) int { return cmp.Compare(a.h, b.h) })
	hashValue(h, v.FieldByName("shift"))
	hashValue(h, reflect.ValueOf(used))
}
