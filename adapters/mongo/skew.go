package mongo

import (
	"context"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.uber.org/zap"
)

// Clock skew, where the server cannot judge lease expiry itself.
//
// Without server-side time (capabilities.serverTime) a lease's expiry is
// written by its holder's clock and judged by a waiter's. Each instance
// therefore measures its own clock against the server's (hello.localTime,
// at start and again before a takeover when the last measurement is older
// than skewRecheck) and takes no lease over while it is off by more than
// half of Config.LeaseClockSkew, counting the measurement's own
// uncertainty: two instances within half the allowance of the server are
// within the whole allowance of each other, which is what a holder
// assumes (memo.go). An instance whose clock is off waits instead, until
// the holder releases or its wait ends.

// skewRecheck is how old a measurement may be before a takeover.
const skewRecheck = time.Minute

type skewCheck struct {
	db *DB

	mu          sync.Mutex
	measuredAt  time.Time     // by this instance's clock
	offset      time.Duration // server clock minus ours
	uncertainty time.Duration
}

func newSkewCheck(db *DB) *skewCheck { return &skewCheck{db: db} }

type helloTime struct {
	LocalTime time.Time `bson:"localTime"`
}

// measure reads the server's clock once.
func (s *skewCheck) measure(ctx context.Context) error {
	var reply helloTime
	before := s.db.clock.Now()
	if err := s.db.runCommand(workaround(ctx), bson.D{{Key: "hello", Value: 1}}, &reply); err != nil {
		return fail(err, "hello")
	}
	after := s.db.clock.Now()
	half := after.Sub(before) / 2
	offset := reply.LocalTime.Sub(before.Add(half))
	// The server reports milliseconds; the reply was taken somewhere in
	// the round trip.
	uncertainty := half + time.Millisecond
	s.mu.Lock()
	s.measuredAt, s.offset, s.uncertainty = after, offset, uncertainty
	s.mu.Unlock()
	if !s.within(offset, uncertainty) {
		s.db.log.Error("this instance's clock is off the server's by more than half of FOCAL_MONGO_LEASE_CLOCK_SKEW: "+
			"it will take no expired session lease over until its clock is corrected (sync it with NTP)",
			zap.Duration("offset", offset), zap.Duration("uncertainty", uncertainty),
			zap.Duration("lease_clock_skew", s.db.cfg.LeaseClockSkew))
	}
	return nil
}

func (s *skewCheck) within(offset, uncertainty time.Duration) bool {
	return offset.Abs()+uncertainty <= s.db.cfg.LeaseClockSkew/2
}

// allowsTakeover reports whether this instance's clock may judge another
// holder's lease expired, measuring again when the last measurement is
// stale.
func (s *skewCheck) allowsTakeover(ctx context.Context) (bool, error) {
	s.mu.Lock()
	stale := s.db.clock.Now().Sub(s.measuredAt) > skewRecheck
	s.mu.Unlock()
	if stale {
		if err := s.measure(ctx); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.within(s.offset, s.uncertainty), nil
}
