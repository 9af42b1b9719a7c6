package memory

// LeaseWaiters reports how many callers wait for the session's lease now.
// Tests use it to know that a caller has joined the queue, so that they can
// order arrivals without the wall clock.
func (s *Store) LeaseWaiters(sessionID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.leases[sessionID]; l != nil {
		return len(l.waiters)
	}
	return 0
}
