package fakellm

// OnRecorded makes s call fn with each request once it is recorded, before
// its handler goes on, so a test can hold a request at that point.
func OnRecorded(s *Server, fn func(Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded = fn
}
