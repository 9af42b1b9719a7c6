package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.uber.org/zap"

	"focal/ports"
)

// Collection names, one per aggregate.
const (
	colPolicies = "policies"
	// Versions pruned from policies (policy_versions.go).
	colPolicyVersions = "policy_versions"
	// Tenants' model keys, sealed, and budgets, as revisions
	// (revisions.go); the budget blocks instances claimed; each
	// instance's token totals per tenant and month.
	colTenantKeys    = "tenant_model_keys"
	colTenantBudgets = "tenant_budgets"
	colBudgetBlocks  = "budget_blocks"
	colTenantUsage   = "tenant_usage"
	colSessions      = "sessions"
	colTurns         = "turns"
	colLeases        = "session_leases"
	colEpochs        = "lease_epochs"
	colIdem          = "idempotency_keys"
	colRateWindow    = "rate_windows"
	// Used only on servers without atomic updates (see capabilities).
	colLeaseTakeovers = "lease_takeovers"
	colIdemTakeovers  = "idempotency_takeovers"
	colRateSlots      = "rate_slots"
)

// DB is the connection every store of this package shares: the client,
// the collections, what the server can do, and what this process
// remembers to save round trips (memo.go). Open builds it without I/O;
// Start connects. It is safe for concurrent use.
type DB struct {
	cfg     Config
	clock   ports.Clock
	log     *zap.Logger
	options *options.ClientOptions
	client  *mdb.Client
	caps    capabilities

	policies, policyVersions, sessions, turns, leases, epochs, idem, rateWindows *mdb.Collection
	leaseTakeovers, idemTakeovers, rateSlots                                     *mdb.Collection
	tenantKeys, tenantBudgets, budgetBlocks, tenantUsage                         *mdb.Collection

	memo   *memo
	fences fences
	skew   *skewCheck
	rates  *rateCache

	// readOnly: opened by ReadOnly.
	readOnly bool
}

// Open validates cfg and prepares the client. It does no I/O: Start
// connects.
func Open(cfg Config, clock ports.Clock, log *zap.Logger, opts ...Option) (*DB, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		return nil, errors.New("mongo store: a clock is required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	var o storeOptions
	for _, opt := range opts {
		opt(&o)
	}
	co := options.Client().ApplyURI(cfg.URI).
		SetMaxPoolSize(cfg.MaxPoolSize).
		SetMinPoolSize(cfg.MinPoolSize).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetServerSelectionTimeout(cfg.ServerSelectionTimeout).
		SetAppName("focal").
		// Set after the URI, so they hold whatever it says (Config.Validate
		// has refused a URI asking for less): an acknowledged write is on a
		// majority of the replica set and survives a failover; reads come
		// from the primary and see only such writes, so nothing read can be
		// rolled back later.
		SetWriteConcern(writeconcern.Majority()).
		SetReadConcern(readconcern.Majority()).
		SetReadPreference(readpref.Primary()).
		SetRetryWrites(true).
		SetRetryReads(true)
	if o.onCommand != nil || o.observe != nil {
		co.SetMonitor(o.monitor())
	}
	if err := co.Validate(); err != nil {
		return nil, fmt.Errorf("FOCAL_MONGO_URI: %w", err)
	}
	return &DB{cfg: cfg, clock: clock, log: log.Named("mongo"), options: co,
		memo: newMemo(), rates: newRateCache(), readOnly: o.readOnly}, nil
}

// Connect opens the store and starts it: for callers without a lifecycle.
func Connect(ctx context.Context, cfg Config, clock ports.Clock, log *zap.Logger, opts ...Option) (*DB, error) {
	db, err := Open(cfg, clock, log, opts...)
	if err != nil {
		return nil, err
	}
	if err := db.Start(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// Start connects to the server and checks what it is: a replica set or
// sharded cluster (a standalone server only with
// Config.AllowStandalone), MongoDB 6.0 or newer or FerretDB, each
// detected once so the stores pick the commands it supports. Then it
// creates or migrates the indexes and reserves this process's lease-fence
// epoch. A server that cannot be reached within ctx is STORE_UNAVAILABLE;
// one that does not qualify fails with a message saying why. ReadOnly
// skips the indexes and the epoch, and accepts a standalone server.
func (db *DB) Start(ctx context.Context) error {
	client, err := mdb.Connect(db.options)
	if err != nil {
		return fmt.Errorf("mongo store: connect: %w", err)
	}
	db.client = client
	d := client.Database(db.cfg.Database)
	for _, c := range []struct {
		col  **mdb.Collection
		name string
	}{
		{&db.policies, colPolicies}, {&db.policyVersions, colPolicyVersions}, {&db.sessions, colSessions}, {&db.turns, colTurns}, {&db.leases, colLeases},
		{&db.epochs, colEpochs}, {&db.idem, colIdem}, {&db.rateWindows, colRateWindow},
		{&db.leaseTakeovers, colLeaseTakeovers}, {&db.idemTakeovers, colIdemTakeovers}, {&db.rateSlots, colRateSlots},
		{&db.tenantKeys, colTenantKeys}, {&db.tenantBudgets, colTenantBudgets}, {&db.budgetBlocks, colBudgetBlocks},
		{&db.tenantUsage, colTenantUsage},
	} {
		*c.col = d.Collection(c.name)
	}
	if err := db.start(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return err
	}
	return nil
}

func (db *DB) start(ctx context.Context) error {
	caps, err := db.detect(ctx)
	if err != nil {
		return err
	}
	db.caps = caps
	db.log.Info("connected", zap.String("server", caps.server), zap.Bool("standalone", caps.standalone),
		zap.Bool("server_time", caps.serverTime), zap.Bool("lookup", caps.lookup), zap.Bool("atomic_updates", caps.atomicUpdates))
	if caps.standalone && !db.cfg.AllowStandalone && !db.readOnly {
		return fmt.Errorf("mongo store: %s at FOCAL_MONGO_URI is a standalone server: an acknowledged write lives on one disk "+
			"and is not retried across a failover. Run a replica set (one member will do for development) or, "+
			"for development and tests only, set FOCAL_MONGO_ALLOW_STANDALONE=true", caps.server)
	}
	if !caps.serverTime {
		db.skew = newSkewCheck(db)
		if err := db.skew.measure(ctx); err != nil {
			return err
		}
	}
	if db.readOnly {
		return db.checkStore(ctx)
	}
	if err := db.ensureIndexes(ctx); err != nil {
		return err
	}
	return db.fences.reserve(ctx, db)
}

// Close disconnects from the server, waiting for in-flight operations
// until ctx ends.
func (db *DB) Close(ctx context.Context) error {
	if db.client == nil {
		return nil
	}
	return db.client.Disconnect(ctx)
}

// Ping checks that the primary answers. STORE_UNAVAILABLE when it does not.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	return fail(db.client.Ping(ctx, readpref.Primary()), "ping")
}

// Server names the server Start found, for people.
func (db *DB) Server() string { return db.caps.server }

// Database returns the database the store uses (tests drop it).
func (db *DB) Database() *mdb.Database { return db.client.Database(db.cfg.Database) }

// op bounds one round trip by the configured operation timeout; the
// caller's own deadline still applies when it is sooner.
func (db *DB) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.cfg.OperationTimeout)
}

// runCommand runs a database command and decodes its reply.
func (db *DB) runCommand(ctx context.Context, cmd bson.D, out any) error {
	ctx, cancel := db.op(ctx)
	defer cancel()
	return db.client.Database("admin").RunCommand(ctx, cmd).Decode(out)
}

// Option adjusts a DB.
type Option func(*storeOptions)

type storeOptions struct {
	onCommand func(name string)
	observe   func(CommandEvent)
	readOnly  bool
}

// ReadOnly opens the database to read it and nothing else (focal store
// copy's source): Start creates or changes no index and reserves no
// lease epoch, and refuses a database without Focal's collections. The
// stores' reads need no index to be right, so a database whose indexes an
// older focal made reads as well. Nothing stops a write: the caller
// sends none.
func ReadOnly() Option { return func(o *storeOptions) { o.readOnly = true } }

// WithCommandHook calls fn with the name of every command sent to the
// server: one call per round trip, for metrics.
func WithCommandHook(fn func(name string)) Option {
	return func(o *storeOptions) { o.onCommand = fn }
}

// CommandEvent is one command the store sent, reported when it finished.
type CommandEvent struct {
	Name     string
	Started  time.Time
	Finished time.Time
	// Workaround marks a command sent only because the server lacks a
	// feature MongoDB has (FerretDB: no $lookup, no TTL indexes, no
	// atomic conditional updates): it would not be sent to MongoDB.
	Workaround bool
	Failed     bool
}

// WithCommandObserver calls fn once per command when it finishes, with
// its timing: for counting round trips and how many of them run one after
// another.
func WithCommandObserver(fn func(CommandEvent)) Option {
	return func(o *storeOptions) { o.observe = fn }
}

func (o *storeOptions) monitor() *event.CommandMonitor {
	finished := func(ctx context.Context, e event.CommandFinishedEvent, failed bool) {
		if o.observe == nil {
			return
		}
		end := time.Now()
		o.observe(CommandEvent{Name: e.CommandName, Started: end.Add(-e.Duration), Finished: end,
			Workaround: isWorkaround(ctx), Failed: failed})
	}
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			if o.onCommand != nil {
				o.onCommand(e.CommandName)
			}
		},
		Succeeded: func(ctx context.Context, e *event.CommandSucceededEvent) {
			finished(ctx, e.CommandFinishedEvent, false)
		},
		Failed: func(ctx context.Context, e *event.CommandFailedEvent) { finished(ctx, e.CommandFinishedEvent, true) },
	}
}

type workaroundKey struct{}

// workaround marks the commands sent under ctx as ones only a server
// without some MongoDB feature needs (CommandEvent.Workaround).
func workaround(ctx context.Context) context.Context {
	return context.WithValue(ctx, workaroundKey{}, true)
}

func isWorkaround(ctx context.Context) bool {
	v, _ := ctx.Value(workaroundKey{}).(bool)
	return v
}

// concurrently runs a here and b on a goroutine of its own, waits for both
// and returns their errors: two independent round trips cost one of
// latency.
func concurrently(a, b func() error) (errA, errB error) {
	done := make(chan error, 1)
	go func() { done <- b() }()
	errA = a()
	return errA, <-done
}
