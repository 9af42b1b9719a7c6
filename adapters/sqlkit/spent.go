package sqlkit

import "sync"

// Spent are the fences of leases whose turn this process committed: the
// commit freed the lease, so releasing it has nothing to send.
type Spent struct {
	mu     sync.Mutex
	fences map[int64]struct{}
}

// spentLimit bounds the fences kept; forgetting one only costs its
// release a write that changes nothing.
const spentLimit = 1 << 16

// Add notes that the lease of fence was used by its commit.
func (s *Spent) Add(fence int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fences == nil || len(s.fences) >= spentLimit {
		s.fences = map[int64]struct{}{}
	}
	s.fences[fence] = struct{}{}
}

// Take reports whether fence was spent, forgetting it.
func (s *Spent) Take(fence int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.fences[fence]
	delete(s.fences, fence)
	return ok
}
