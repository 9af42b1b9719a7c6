package mongo

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// A process that used up its epoch's sequence reserves a new epoch: the
// fence after the last of an epoch is the first of a new one, never a
// number past the sequence's 32 bits (which would spill into the epoch's).
func TestFencesMoveToANewEpochAtTheLimit(t *testing.T) {
	db := testDB(t)
	ctx := t.Context()
	db.fences.mu.Lock()
	epoch := db.fences.epoch
	db.fences.seq = fenceSeqLimit - 1
	db.fences.mu.Unlock()

	last, err := db.fences.next(ctx, db)
	require.NoError(t, err)
	require.Equal(t, epoch<<32|fenceSeqLimit, last, "the epoch's last fence")
	first, err := db.fences.next(ctx, db)
	require.NoError(t, err)
	require.Greater(t, first>>32, epoch, "the next fence is of a new epoch")
	require.EqualValues(t, 1, first&fenceSeqLimit, "and the first of it")
	n, err := db.epochs.CountDocuments(ctx, bson.D{{Key: "_id", Value: first >> 32}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "the new epoch is reserved in the store")
}

// Two processes on one host reserving an epoch at the same moment: the
// one whose insert meets the other's is not fooled by the shared host name
// into taking the other's epoch as its own; it takes the next.
func TestEpochRaceOnOneHostGivesTwoEpochs(t *testing.T) {
	var armed atomic.Bool
	var other *DB
	var top int64
	raced := make(chan error, 1)
	db := testDB(t, WithCommandObserver(func(e CommandEvent) {
		// Right after this process read the highest epoch, the other
		// process inserts the number after it, as if it read first.
		if e.Name == "find" && armed.CompareAndSwap(true, false) {
			host, _ := os.Hostname()
			_, err := other.epochs.InsertOne(t.Context(), epochDoc{Epoch: top + 1, Host: host, StartedAt: time.Unix(1, 0).UTC()})
			raced <- err
		}
	}))
	other = sibling(t, db)
	ctx := t.Context()
	var head epochDoc
	require.NoError(t, db.epochs.FindOne(ctx, bson.D{}, options.FindOne().SetSort(bson.D{{Key: "_id", Value: -1}})).Decode(&head))
	top = head.Epoch

	armed.Store(true)
	require.NoError(t, db.fences.reserve(ctx, db))
	require.NoError(t, receive(t, raced, 5*time.Second, "the other process's insert"))
	db.fences.mu.Lock()
	defer db.fences.mu.Unlock()
	require.Equal(t, top+2, db.fences.epoch, "the other process's epoch is not taken as this one's")
}
