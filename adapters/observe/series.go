package observe

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// series resolves a metric vector's children once per distinct label
// values. WithLabelValues hashes and checks the values and takes the
// vector's lock on every call; the hot paths (every store call, every step
// of every turn, every request) look their child up here instead. The
// values cached are bounded as the vector's are (operations, outcomes,
// steps, routes), and no vector here is ever reset, so a cached child
// stays the one the registry exports.
//
// The cache is copied on write: a lookup is one atomic load, a map read
// by the first label value and a scan of the few children under it, with
// no lock whose counter every core's requests would bounce between them
// (a turn makes about fifteen lookups), and a miss, which happens once per
// label values, copies the map. The map is keyed by one string, not by all
// three: hashing an array of three strings cost a lookup several times
// what hashing one does, and the values past the first (an outcome, a
// method and status) have few values each.
//
// In front of the map, recent holds children by where their label values'
// bytes are: the hot paths' values are constants (an operation, a step,
// an outcome, a route's template, a status's label), the same strings on
// every call, so a lookup there compares three addresses and lengths,
// with no hashing. A slot is taken by the first label values to land in
// it and kept: values made afresh on each call never hit it, and leave
// it to the map rather than take it over.
type series[T any] struct {
	of     func(...string) T // the vector's WithLabelValues
	labels int               // how many labels the vector has
	mu     sync.Mutex        // serialises misses
	m      atomic.Pointer[map[string][]seriesChild[T]]
	recent [seriesRecent]atomic.Pointer[recentChild[T]]
}

// seriesRecent is how many slots a series has for children by address.
const seriesRecent = 64

// recentChild is a child by its label values, held as given.
type recentChild[T any] struct {
	a, b, c string
	child   T
}

// sameString reports whether x and y are the same bytes in memory (and
// so the same string); two empty strings are.
func sameString(x, y string) bool {
	return len(x) == len(y) && (len(x) == 0 || unsafe.StringData(x) == unsafe.StringData(y))
}

// recentSlot is the slot of label values a, b and c, by their addresses.
func recentSlot(a, b, c string) int {
	h := uint64(uintptr(unsafe.Pointer(unsafe.StringData(a)))) ^
		uint64(uintptr(unsafe.Pointer(unsafe.StringData(b))))*31 ^
		uint64(uintptr(unsafe.Pointer(unsafe.StringData(c))))*961
	return int(h * 0x9E3779B97F4A7C15 >> (64 - 6))
}

// seriesChild is a child under its first label value, by the others.
type seriesChild[T any] struct {
	b, c  string
	child T
}

// maxSeriesLabels is the most labels a cached vector has.
const maxSeriesLabels = 3

func newSeries[T any](labels int, of func(...string) T) *series[T] {
	s := &series[T]{of: of, labels: labels}
	s.m.Store(&map[string][]seriesChild[T]{})
	return s
}

// get is the child for the vector's label values, in order; the values
// past its count of labels are "".
func (s *series[T]) get(a, b, c string) T {
	slot := &s.recent[recentSlot(a, b, c)]
	r := slot.Load()
	if r != nil && sameString(r.a, a) && sameString(r.b, b) && sameString(r.c, c) {
		return r.child
	}
	child := s.lookup(a, b, c)
	if r == nil {
		slot.CompareAndSwap(nil, &recentChild[T]{a: a, b: b, c: c, child: child})
	}
	return child
}

// lookup is get from the map.
func (s *series[T]) lookup(a, b, c string) T {
	children := (*s.m.Load())[a]
	for i := range children {
		if children[i].b == b && children[i].c == c {
			return children[i].child
		}
	}
	return s.resolve(a, b, c)
}

// resolve asks the vector for the child of a, b and c and keeps it, in a
// copy of the map that replaces it.
func (s *series[T]) resolve(a, b, c string) T {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.m.Load()
	for _, e := range old[a] {
		if e.b == b && e.c == c {
			return e.child
		}
	}
	values := [maxSeriesLabels]string{a, b, c}
	child := s.of(values[:s.labels]...)
	m := make(map[string][]seriesChild[T], len(old)+1)
	maps.Copy(m, old)
	// Clipped, so the slice readers hold is never written to.
	m[a] = append(slices.Clip(old[a]), seriesChild[T]{b: b, c: c, child: child})
	s.m.Store(&m)
	return child
}
