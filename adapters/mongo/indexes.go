package mongo

import (
	"context"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/zap"
)

// indexSpec is one index the stores need.
type indexSpec struct {
	col  *mdb.Collection
	name string
	keys bson.D
	// unique indexes carry invariants.
	unique bool
	// sparse indexes leave out documents without the field.
	sparse bool
	// ttl makes a TTL index (expire at the field's time), where the server
	// has them.
	ttl bool
}

// Codes createIndexes answers with when an index of that name, or with
// those keys, exists with other options.
const (
	codeIndexOptionsConflict  = 85
	codeIndexKeySpecsConflict = 86
)

// indexSpecs lists every index: the unique keys of the invariants, one
// index per listing filter, and TTL indexes where the server has them.
func (db *DB) indexSpecs() []indexSpec {
	k := func(fields ...any) bson.D {
		var d bson.D
		for i := 0; i < len(fields); i += 2 {
			d = append(d, bson.E{Key: fields[i].(string), Value: fields[i+1]})
		}
		return d
	}
	specs := []indexSpec{
		// The commit point of an agent's policy version.
		{col: db.policies, name: "tenant_agent_version", keys: k("tenant_id", 1, "agent_id", 1, "version", -1), unique: true},
		// Older versions, one copy each.
		{col: db.policyVersions, name: "tenant_agent_version", keys: k("tenant_id", 1, "agent_id", 1, "version", -1), unique: true},
		// One active session per channel key: the claim of the key (the
		// key's hash holds the tenant; the tenant leads so that sessions
		// can be sharded by tenant).
		{col: db.sessions, name: "tenant_active_key", keys: k("tenant_id", 1, "active_key", 1), unique: true},
		// Session listings, newest first, by every combination of filters.
		{col: db.sessions, name: "tenant_newest", keys: k("tenant_id", 1, "created_ns", -1, "_id", -1)},
		{col: db.sessions, name: "tenant_agent_newest", keys: k("tenant_id", 1, "agent_id", 1, "created_ns", -1, "_id", -1)},
		{col: db.sessions, name: "tenant_status_newest", keys: k("tenant_id", 1, "status", 1, "created_ns", -1, "_id", -1)},
		{col: db.sessions, name: "tenant_agent_status_newest", keys: k("tenant_id", 1, "agent_id", 1, "status", 1, "created_ns", -1, "_id", -1)},
		// The commit point of a turn, and every read of a session's turns.
		{col: db.turns, name: "session_turn", keys: k("session_id", 1, "turn_number", 1), unique: true},
		// One completed turn per keyed request. Every turn written since
		// carries the field; sparse on MongoDB, so turns stored before it
		// existed do not collide (FerretDB ignores sparse).
		{col: db.turns, name: "answers", keys: k("answers", 1), unique: true, sparse: db.caps.atomicUpdates},
		// A deleted session's leases go with it.
		{col: db.leases, name: "session_turn", keys: k("session_id", 1, "turn", 1)},
		// The commit points of a tenant's key and budget revisions.
		{col: db.tenantKeys, name: "key_revision", keys: k("tenant_id", 1, "provider", 1, "revision", -1), unique: true},
		{col: db.tenantBudgets, name: "key_revision", keys: k("tenant_id", 1, "revision", -1), unique: true},
		// Counting a month's budget blocks, summing its usage.
		{col: db.budgetBlocks, name: "tenant_period", keys: k("tenant_id", 1, "period", 1)},
		{col: db.tenantUsage, name: "tenant_month", keys: k("tenant_id", 1, "month", 1)},
	}
	if db.caps.atomicUpdates {
		specs = append(specs, indexSpec{col: db.rateWindows, name: "expires_ttl", keys: k("expires_at", 1), ttl: true})
	} else {
		specs = append(specs,
			indexSpec{col: db.rateSlots, name: "key_window_slot", keys: k("key", 1, "window_start", 1, "slot", -1)},
			indexSpec{col: db.rateSlots, name: "expires_ttl", keys: k("expires_at", 1), ttl: true},
			indexSpec{col: db.leaseTakeovers, name: "expires_ttl", keys: k("expires_at", 1), ttl: true},
			indexSpec{col: db.idemTakeovers, name: "expires_ttl", keys: k("expires_at", 1), ttl: true})
	}
	specs = append(specs,
		// Spent leases and deleted sessions' seals, after their grace.
		indexSpec{col: db.leases, name: "purge_ttl", keys: k("purge_at", 1), ttl: true},
		// Idempotency records: expires_at is already past expiry plus a grace.
		indexSpec{col: db.idem, name: "expires_ttl", keys: k("expires_at", 1), ttl: true})
	if !db.caps.ttl {
		specs = slices.DeleteFunc(specs, func(s indexSpec) bool { return s.ttl })
	}
	return specs
}

// indexInfo is an index as listIndexes shows it.
type indexInfo struct {
	Name               string `bson:"name"`
	Key                bson.D `bson:"key"`
	Unique             bool   `bson:"unique"`
	Sparse             bool   `bson:"sparse"`
	ExpireAfterSeconds *int32 `bson:"expireAfterSeconds"`
}

// ensureIndexes creates every index the stores need and migrates those
// whose definition changed: an index of the same name with other keys or
// options, or one with the same keys under another name, is dropped and
// created anew (rather than failing start-up). Servers without TTL
// indexes get none; every read checks expiry itself.
func (db *DB) ensureIndexes(ctx context.Context) error {
	existing := map[*mdb.Collection][]indexInfo{}
	for _, spec := range db.indexSpecs() {
		have, ok := existing[spec.col]
		if !ok {
			var err error
			if have, err = db.listIndexes(ctx, spec.col); err != nil {
				return err
			}
			existing[spec.col] = have
		}
		if err := db.ensureIndex(ctx, spec, have); err != nil {
			return err
		}
	}
	if !db.caps.ttl {
		db.log.Warn("the server has no TTL indexes: expired records stay until replaced (every read ignores them)",
			zap.String("server", db.caps.server))
	}
	return nil
}

func (db *DB) ensureIndex(ctx context.Context, spec indexSpec, have []indexInfo) error {
	for _, ix := range have {
		sameName, sameKeys := ix.Name == spec.name, keysEqual(ix.Key, spec.keys)
		switch {
		case sameName && sameKeys && ix.Unique == spec.unique && ix.Sparse == spec.sparse && (ix.ExpireAfterSeconds != nil) == spec.ttl:
			return nil
		case sameName || sameKeys:
			db.log.Warn("index definition changed: dropping and creating it anew", zap.String("collection", spec.col.Name()),
				zap.String("index", ix.Name), zap.String("as", spec.name))
			if err := db.dropIndex(ctx, spec.col, ix.Name); err != nil {
				return err
			}
		}
	}
	err := db.createIndex(ctx, spec)
	if code := commandCode(err); code == codeIndexOptionsConflict || code == codeIndexKeySpecsConflict {
		// Created by another instance meanwhile, differently: this
		// definition is the newer one, so it wins.
		if err := db.dropIndex(ctx, spec.col, spec.name); err != nil {
			return err
		}
		err = db.createIndex(ctx, spec)
	}
	return err
}

func (db *DB) createIndex(ctx context.Context, spec indexSpec) error {
	opts := options.Index().SetName(spec.name)
	if spec.unique {
		opts.SetUnique(true)
	}
	if spec.sparse {
		opts.SetSparse(true)
	}
	if spec.ttl {
		opts.SetExpireAfterSeconds(0)
	}
	ctx, cancel := db.op(ctx)
	defer cancel()
	_, err := spec.col.Indexes().CreateOne(ctx, mdb.IndexModel{Keys: spec.keys, Options: opts})
	if err != nil && commandCode(err) != codeIndexOptionsConflict && commandCode(err) != codeIndexKeySpecsConflict {
		return fail(err, fmt.Sprintf("create index %s.%s", spec.col.Name(), spec.name))
	}
	return err
}

func (db *DB) dropIndex(ctx context.Context, col *mdb.Collection, name string) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	err := col.Indexes().DropOne(ctx, name)
	if commandCode(err) == 27 { // IndexNotFound: dropped by another instance
		return nil
	}
	return fail(err, fmt.Sprintf("drop index %s.%s", col.Name(), name))
}

func (db *DB) listIndexes(ctx context.Context, col *mdb.Collection) ([]indexInfo, error) {
	ctx, cancel := db.op(ctx)
	defer cancel()
	cur, err := col.Indexes().List(ctx)
	if err != nil {
		if commandCode(err) == 26 { // NamespaceNotFound: a new collection
			return nil, nil
		}
		return nil, fail(err, "list indexes of "+col.Name())
	}
	var out []indexInfo
	if err := cur.All(ctx, &out); err != nil {
		return nil, fail(err, "list indexes of "+col.Name())
	}
	return out, nil
}

// keysEqual compares index key documents, whose numbers may come back as
// any numeric type.
func keysEqual(a, b bson.D) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || fmt.Sprint(a[i].Value) != fmt.Sprint(b[i].Value) {
			return false
		}
	}
	return true
}

// commandCode is the server's error code in err, 0 when none.
func commandCode(err error) int {
	if err == nil {
		return 0
	}
	if codes := mdb.ErrorCodes(err); len(codes) > 0 {
		return codes[0]
	}
	return 0
}
