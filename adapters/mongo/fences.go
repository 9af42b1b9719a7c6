package mongo

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
)

// Lease fences: epoch<<32 | seq, unique across every instance and restart.
// The epoch is reserved once per process by inserting the next number into
// lease_epochs (insert-once, so no two processes ever share one; the
// collection is never purged) and seq counts within the process. So a
// fence never repeats, and a stale holder's token never matches a later
// lease of the same turn.

// fenceSeqLimit is where a process moves to a new epoch.
const fenceSeqLimit = 1<<32 - 1

type fences struct {
	mu    sync.Mutex
	epoch int64
	seq   int64
}

// next hands out a fence no other lease ever had or will have.
func (f *fences) next(ctx context.Context, db *DB) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seq >= fenceSeqLimit {
		if err := f.reserveLocked(ctx, db); err != nil {
			return 0, err
		}
	}
	f.seq++
	return f.epoch<<32 | f.seq, nil
}

func (f *fences) reserve(ctx context.Context, db *DB) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reserveLocked(ctx, db)
}

type epochDoc struct {
	Epoch     int64     `bson:"_id"`
	Host      string    `bson:"host"`
	StartedAt time.Time `bson:"started_at"`
}

// reserveLocked inserts the number after the highest epoch; a duplicate
// means another process took it first, so it reads again. An insert whose
// answer was lost is read back: the epoch is ours when it carries our
// start time and host.
func (f *fences) reserveLocked(ctx context.Context, db *DB) error {
	host, _ := os.Hostname()
	for range 100 {
		var top epochDoc
		fctx, cancel := db.op(ctx)
		err := db.epochs.FindOne(fctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&top)
		cancel()
		if err != nil && !errors.Is(err, errNoDocuments) {
			return fail(err, "read lease epochs")
		}
		next := epochDoc{Epoch: top.Epoch + 1, Host: host, StartedAt: db.clock.Now().UTC().Truncate(time.Millisecond)}
		if next.Epoch >= 1<<31 {
			return errors.New("mongo store: lease fence epochs exhausted")
		}
		won, err := db.insertOnce(ctx, db.epochs, next, "reserve a lease epoch", readBack{mine: func(got bson.Raw) bool {
			var stored epochDoc
			return bson.Unmarshal(got, &stored) == nil && stored.Host == next.Host && stored.StartedAt.Equal(next.StartedAt)
		}, onDuplicate: true})
		if err != nil {
			return err
		}
		if won {
			f.epoch, f.seq = next.Epoch, 0
			return nil
		}
	}
	return domain.Errorf(domain.CodeStoreUnavailable, "no lease epoch could be reserved")
}
