package memory

// PackBacklog is how many sessions the store holds whole, queued until
// they have gone unused for packAfter and the idle work packs them: a
// burst of new users leaves thousands, packed over the seconds after. It
// is 0 once every session is packed; one that stays high means the idle
// work falls behind the sessions going idle.
func (s *Store) PackBacklog() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used.items) - s.used.head
}
