package mongo

import (
	"context"
	"errors"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"

	"focal/domain"
)

var errNoDocuments = mdb.ErrNoDocuments

// maxUnknownOutcomes bounds how often one insert is sent again after
// answers that were lost.
const maxUnknownOutcomes = 3

// insertOnce inserts doc unless a document with its _id (or another
// unique key of it) exists: true when this call stored it. It is every
// invariant's primitive (doc.go), so an insert whose answer was lost (a
// timeout, a failover: the write may or may not have landed) is settled
// by reading the document back by _id; rb.mine tells whether the stored
// document is the one this call wrote (a field no other writer would
// write, such as a fence or an owner). nil rb.mine means only the answer
// counts. With rb.onDuplicate a duplicate key is read back too: it may be
// this writer's own earlier attempt, landed late.
func (db *DB) insertOnce(ctx context.Context, col *mdb.Collection, doc any, what string, rb readBack) (bool, error) {
	id, err := idOf(doc)
	if err != nil {
		return false, fail(err, what)
	}
	for attempt := 1; ; attempt++ {
		ictx, cancel := db.op(ctx)
		_, err := col.InsertOne(ictx, doc)
		cancel()
		switch {
		case err == nil:
			return true, nil
		case duplicate(err) && (rb.mine == nil || !rb.onDuplicate):
			return false, nil
		case !duplicate(err) && (!transient(err) || rb.mine == nil):
			return false, fail(err, what)
		}
		stored, readErr := db.findRaw(ctx, col, id)
		switch {
		case readErr != nil:
			return false, fail(err, what)
		case stored != nil:
			return rb.mine(stored), nil
		case duplicate(err) && duplicateID(err):
			// Our _id is on the primary but not yet on a majority, which
			// reads see: written, not confirmed. Asking again settles it.
			return false, domain.WrapError(domain.CodeStoreUnavailable, err, "the write is not confirmed yet")
		case duplicate(err):
			return false, nil // another document holds a unique key of ours
		case attempt == maxUnknownOutcomes || ctx.Err() != nil:
			return false, fail(err, what)
		}
		// The write did not land: send it again.
	}
}

// duplicateID reports a duplicate key error on the _id index (MongoDB
// names the index, or its key pattern, in the error).
func duplicateID(err error) bool {
	var we mdb.WriteException
	if !errors.As(err, &we) {
		return false
	}
	for _, e := range we.WriteErrors {
		if e.Code != 11000 {
			continue
		}
		if strings.Contains(e.Message, "index: _id_ ") {
			return true
		}
		if kp, lookupErr := e.Raw.LookupErr("keyPattern"); lookupErr == nil {
			if doc, ok := kp.DocumentOK(); ok {
				if elems, _ := doc.Elements(); len(elems) == 1 && elems[0].Key() == "_id" {
					return true
				}
			}
		}
	}
	return false
}

// readBack says how insertOnce settles an unknown outcome.
type readBack struct {
	mine        func(bson.Raw) bool
	onDuplicate bool
}

// ours reads back a document whose _id only this writer uses.
var ours = readBack{mine: func(bson.Raw) bool { return true }, onDuplicate: true}

// findRaw reads the document with _id id, nil when there is none.
func (db *DB) findRaw(ctx context.Context, col *mdb.Collection, id any) (bson.Raw, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	raw, err := col.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
	if errors.Is(err, errNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return raw, nil
}

// idOf returns the _id of a document about to be inserted.
func idOf(doc any) (any, error) {
	raw, err := bson.Marshal(doc)
	if err != nil {
		return nil, err
	}
	v, err := bson.Raw(raw).LookupErr("_id")
	if err != nil {
		return nil, err
	}
	var id any
	err = v.Unmarshal(&id)
	return id, err
}

// fieldIs returns a mine function for insertOnce: the stored document's
// field key holds want.
func fieldIs[T comparable](key string, want T) func(bson.Raw) bool {
	return func(doc bson.Raw) bool {
		v, err := doc.LookupErr(key)
		if err != nil {
			return false
		}
		var got T
		return v.Unmarshal(&got) == nil && got == want
	}
}
