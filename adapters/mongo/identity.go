package mongo

import (
	"bytes"
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// collectionInfo is a collection as listCollections shows it.
type collectionInfo struct {
	Info struct {
		UUID bson.Binary `bson:"uuid"`
	} `bson:"info"`
}

// storeMark is the UUID of a database's policies collection, which every
// store creates when it first starts (its indexes): the server gives each
// collection its own when it creates it, and reports the same through any
// member of a replica set, any router of a cluster, FerretDB too. Nil
// when the database has no such collection.
func storeMark(ctx context.Context, d *mdb.Database) ([]byte, error) {
	cur, err := d.ListCollections(ctx, bson.D{{Key: "name", Value: colPolicies}})
	if err != nil {
		return nil, fail(err, "list collections")
	}
	var found []collectionInfo
	if err := cur.All(ctx, &found); err != nil {
		return nil, fail(err, "list collections")
	}
	if len(found) == 0 {
		return nil, nil
	}
	return found[0].Info.UUID.Data, nil
}

// checkStore refuses, for ReadOnly, a database that holds no store.
func (db *DB) checkStore(ctx context.Context) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	mark, err := storeMark(ctx, db.client.Database(db.cfg.Database))
	if err != nil {
		return err
	}
	if mark == nil {
		return fmt.Errorf("mongo store: not a Focal store: the database %q has no %s collection", db.cfg.Database, colPolicies)
	}
	return nil
}

// SameDatabase tells whether two configurations reach one database,
// however each URI spells it (hosts by name or address, in any order,
// options in any order): the database's policies collection is the same
// one, by the UUID the server gave it. A database without one is no
// other.
func SameDatabase(ctx context.Context, a, b Config) (bool, error) {
	ma, err := mark(ctx, a)
	if err != nil || ma == nil {
		return false, err
	}
	mb, err := mark(ctx, b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ma, mb), nil
}

// mark connects to cfg's server for storeMark.
func mark(ctx context.Context, cfg Config) ([]byte, error) {
	cfg = cfg.WithDefaults()
	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.ServerSelectionTimeout+cfg.OperationTimeout)
	defer cancel()
	client, err := mdb.Connect(options.Client().ApplyURI(cfg.URI).SetAppName("focal").
		SetConnectTimeout(cfg.ConnectTimeout).SetServerSelectionTimeout(cfg.ServerSelectionTimeout))
	if err != nil {
		return nil, fmt.Errorf("mongo store: connect: %w", err)
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	return storeMark(ctx, client.Database(cfg.Database))
}
