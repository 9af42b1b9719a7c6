package observe

import "sync"

// series resolves a metric vector's children once per distinct label
// values. WithLabelValues hashes and checks the values and takes the
// vector's lock on every call; the hot paths (every store call, every step
// of every turn, every request) look their child up here instead. The
// values cached are bounded as the vector's are (operations, outcomes,
// steps, routes), and no vector here is ever reset, so a cached child
// stays the one the registry exports.
type series[T any] struct {
	of     func(...string) T // the vector's WithLabelValues
	labels int               // how many labels the vector has
	mu     sync.RWMutex
	m      map[[maxSeriesLabels]string]T
}

// maxSeriesLabels is the most labels a cached vector has.
const maxSeriesLabels = 3

func newSeries[T any](labels int, of func(...string) T) *series[T] {
	return &series[T]{of: of, labels: labels, m: map[[maxSeriesLabels]string]T{}}
}

// get is the child for the vector's label values, in order; the values
// past its count of labels are "".
func (s *series[T]) get(a, b, c string) T {
	k := [maxSeriesLabels]string{a, b, c}
	s.mu.RLock()
	child, ok := s.m[k]
	s.mu.RUnlock()
	if ok {
		return child
	}
	return s.resolve(k)
}

// resolve asks the vector for the child of k and keeps it.
func (s *series[T]) resolve(k [maxSeriesLabels]string) T {
	child := s.of(k[:s.labels]...)
	s.mu.Lock()
	s.m[k] = child
	s.mu.Unlock()
	return child
}
