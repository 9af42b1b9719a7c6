package mongo

import (
	"context"
	"errors"
	"os"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
)

// Lease fences: epoch<<32 | seq, unique across every instance and restart
// (see lease.go).

// fenceSeqLimit is where a process moves to a new epoch.
const fenceSeqLimit = 1<<32 - 1

// nextFence hands out a fence no other lease ever had or will have.
func (s *Store) nextFence(ctx context.Context) (int64, error) {
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	if s.fenceSeq >= fenceSeqLimit {
		if err := s.reserveEpochLocked(ctx); err != nil {
			return 0, err
		}
	}
	s.fenceSeq++
	return s.fenceEpoch<<32 | s.fenceSeq, nil
}

func (s *Store) newFenceEpoch(ctx context.Context) error {
	s.fenceMu.Lock()
	defer s.fenceMu.Unlock()
	return s.reserveEpochLocked(ctx)
}

type epochDoc struct {
	Epoch     int64     `bson:"_id"`
	Host      string    `bson:"host"`
	StartedAt time.Time `bson:"started_at"`
}

// reserveEpochLocked inserts the number after the highest epoch; a
// duplicate means another process took it first, so it reads again.
func (s *Store) reserveEpochLocked(ctx context.Context) error {
	host, _ := os.Hostname()
	for range 100 {
		fctx, cancel := s.op(ctx)
		var top epochDoc
		err := s.epochs.FindOne(fctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&top)
		cancel()
		if err != nil && !errors.Is(err, mdb.ErrNoDocuments) {
			return s.fail(err, "read lease epochs")
		}
		next := top.Epoch + 1
		if next >= 1<<31 {
			return errors.New("mongo store: lease fence epochs exhausted")
		}
		ictx, cancel := s.op(ctx)
		_, err = s.epochs.InsertOne(ictx, epochDoc{Epoch: next, Host: host, StartedAt: s.clock.Now()})
		cancel()
		if mdb.IsDuplicateKeyError(err) {
			continue
		}
		if err != nil {
			return s.fail(err, "reserve a lease epoch")
		}
		s.fenceEpoch, s.fenceSeq = next, 0
		return nil
	}
	return domain.Errorf(domain.CodeStoreUnavailable, "no lease epoch could be reserved")
}
