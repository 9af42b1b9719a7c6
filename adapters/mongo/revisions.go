package mongo

import (
	"context"
	"errors"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/domain"
)

// revisions keeps a small record (a tenant's model key, a tenant's budget)
// as insert-once revisions: every write inserts the next revision under a
// unique (key, revision) index, which is the commit point, and reads take
// the newest. A delete inserts a tombstone. Of concurrent writers of one
// revision exactly one inserts it, on MongoDB and on servers that lose
// concurrent updates alike; older revisions are pruned after each write.
type revisions struct {
	db *DB
	// of picks the collection from db, which has it once started.
	of func(*DB) *mdb.Collection
}

func (r revisions) col() *mdb.Collection { return r.of(r.db) }

// revisionDoc is the part of every revision document revisions reads.
type revisionDoc struct {
	Revision int64 `bson:"revision"`
	Deleted  bool  `bson:"deleted,omitempty"`
}

var newestRevisionFirst = bson.D{{Key: "revision", Value: -1}}

// newest decodes the newest revision of key into out and reports it;
// found is false when there is none or it is a tombstone.
func (r revisions) newest(ctx context.Context, key bson.D, out any) (rev int64, found bool, err error) {
	ctx, cancel := r.db.op(ctx)
	defer cancel()
	raw, err := r.col().FindOne(ctx, key, options.FindOne().SetSort(newestRevisionFirst)).Raw()
	if errors.Is(err, mdb.ErrNoDocuments) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fail(err, "read "+r.col().Name())
	}
	var head revisionDoc
	if err := bson.Unmarshal(raw, &head); err != nil {
		return 0, false, fail(err, "decode "+r.col().Name())
	}
	if head.Deleted {
		return head.Revision, false, nil
	}
	if out != nil {
		if err := bson.Unmarshal(raw, out); err != nil {
			return 0, false, fail(err, "decode "+r.col().Name())
		}
	}
	return head.Revision, true, nil
}

// writeAttempts bounds how often an unconditional write retries after
// another writer took the revision it tried.
const writeAttempts = 10

// write inserts the next revision of key, built by next from the newest
// (rev 0, found false when none). When expect >= 0 a live newest
// revision must be expect, else VERSION_CONFLICT; otherwise a lost race is
// retried. next may return a domain error to refuse the write (NOT_FOUND
// when found is false and the write needs a record).
func (r revisions) write(ctx context.Context, key bson.D, expect int64, current any,
	next func(rev int64, found bool) (any, error)) (int64, error) {
	for attempt := 1; ; attempt++ {
		rev, found, err := r.newest(ctx, key, current)
		if err != nil {
			return 0, err
		}
		if expect >= 0 && found && rev != expect {
			return 0, domain.Errorf(domain.CodeVersionConflict, "the record changed since it was read")
		}
		doc, err := next(rev+1, found)
		if err != nil {
			return 0, err
		}
		ictx, cancel := r.db.op(ctx)
		_, err = r.col().InsertOne(ictx, doc)
		cancel()
		switch {
		case err == nil:
			r.prune(ctx, key, rev+1)
			return rev + 1, nil
		case !mdb.IsDuplicateKeyError(err):
			return 0, fail(err, "write "+r.col().Name())
		case expect >= 0:
			return 0, domain.Errorf(domain.CodeVersionConflict, "the record changed since it was read")
		case attempt == writeAttempts:
			return 0, domain.Errorf(domain.CodeVersionConflict, "the record is being changed by others at the same time; retry")
		}
	}
}

// prune deletes the revisions of key older than rev; one left behind by a
// failure is harmless, since reads take the newest.
func (r revisions) prune(ctx context.Context, key bson.D, rev int64) {
	ctx, cancel := r.db.op(ctx)
	defer cancel()
	_, _ = r.col().DeleteMany(ctx, append(slices.Clip(key), bson.E{Key: "revision", Value: bson.D{{Key: "$lt", Value: rev}}}))
}
