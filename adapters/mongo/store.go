package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
	"go.uber.org/zap"

	"focal/domain"
	"focal/ports"
)

// Collection names, one per aggregate.
const (
	colPolicies   = "policies"
	colSessions   = "sessions"
	colIdentities = "channel_identities"
	colTurns      = "turns"
	colLeases     = "session_leases"
	colEpochs     = "lease_epochs"
	colIdem       = "idempotency_keys"
	colTakeovers  = "idempotency_takeovers"
	colRateSlots  = "rate_slots"
	// colLeaseTakeovers holds the right to delete an expired lease.
	colLeaseTakeovers = "lease_takeovers"
)

// codeNotImplemented is what servers without TTL indexes (FerretDB) answer.
const codeNotImplemented = 238

// Store implements the policy, session, turn, session-lease, idempotency
// and rate-limit ports on MongoDB. It is safe for concurrent use.
type Store struct {
	cfg    Config
	clock  ports.Clock
	log    *zap.Logger
	client *mdb.Client

	policies   *mdb.Collection
	sessions   *mdb.Collection
	identities *mdb.Collection
	turns      *mdb.Collection
	leases     *mdb.Collection
	epochs     *mdb.Collection
	idem       *mdb.Collection
	takeovers  *mdb.Collection
	rateSlots  *mdb.Collection

	leaseTakeovers *mdb.Collection

	rateCache *rateCache
	memo      *memo // leases granted and sessions seen (memo.go)

	fenceMu    sync.Mutex
	fenceEpoch int64 // this process's epoch from colEpochs
	fenceSeq   int64 // last sequence number handed out within the epoch
}

var (
	_ ports.PolicyStore   = (*Store)(nil)
	_ ports.SessionStore  = (*Store)(nil)
	_ ports.TurnStore     = (*Store)(nil)
	_ ports.SessionLocker = (*Store)(nil)

	_ ports.IdempotencyStore = (*Store)(nil)
	_ ports.RateLimiter      = (*Store)(nil)
)

// New connects to MongoDB, creates the indexes the invariants rely on and
// reserves this process's lease-fence epoch. It fails when the server
// cannot be reached within ctx, so a misconfigured service stops at
// start-up. log may be nil.
func New(ctx context.Context, cfg Config, clock ports.Clock, log *zap.Logger, opts ...Option) (*Store, error) {
	var o storeOptions
	for _, opt := range opts {
		opt(&o)
	}
	var tune func(*options.ClientOptions)
	if o.onCommand != nil {
		tune = func(co *options.ClientOptions) {
			co.SetMonitor(&event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
				o.onCommand(e.CommandName)
			}})
		}
	}
	return open(ctx, cfg, clock, log, tune)
}

// Option adjusts a Store.
type Option func(*storeOptions)

type storeOptions struct {
	onCommand func(name string)
}

// WithCommandHook calls fn with the name of every command sent to the
// server: one call per round trip, for metrics.
func WithCommandHook(fn func(name string)) Option {
	return func(o *storeOptions) { o.onCommand = fn }
}

// open is New with a hook on the client options (tests count commands).
func open(ctx context.Context, cfg Config, clock ports.Clock, log *zap.Logger, tune func(*options.ClientOptions)) (*Store, error) {
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
	opts := options.Client().ApplyURI(cfg.URI).
		SetMaxPoolSize(cfg.MaxPoolSize).
		SetMinPoolSize(cfg.MinPoolSize).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetServerSelectionTimeout(cfg.ServerSelectionTimeout).
		SetAppName("focal")
	if tune != nil {
		tune(opts)
	}
	client, err := mdb.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongo store: connect: %w", err)
	}
	db := client.Database(cfg.Database)
	s := &Store{
		cfg: cfg, clock: clock, log: log.Named("mongo"), client: client,
		policies:   db.Collection(colPolicies),
		sessions:   db.Collection(colSessions),
		identities: db.Collection(colIdentities),
		turns:      db.Collection(colTurns),
		leases:     db.Collection(colLeases),
		epochs:     db.Collection(colEpochs),
		idem:       db.Collection(colIdem),
		takeovers:  db.Collection(colTakeovers),
		rateSlots:  db.Collection(colRateSlots),
		rateCache:  newRateCache(),
		memo:       newMemo(),

		leaseTakeovers: db.Collection(colLeaseTakeovers),
	}
	if err := s.EnsureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	if err := s.newFenceEpoch(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, err
	}
	return s, nil
}

// Close disconnects from the server, waiting for in-flight operations
// until ctx ends.
func (s *Store) Close(ctx context.Context) error {
	return s.client.Disconnect(ctx)
}

// Ping checks that the primary answers. STORE_UNAVAILABLE when it does not.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := s.op(ctx)
	defer cancel()
	return s.fail(s.client.Ping(ctx, readpref.Primary()), "ping")
}

// Database returns the database the store uses (tests drop it).
func (s *Store) Database() *mdb.Database { return s.client.Database(s.cfg.Database) }

type indexSpec struct {
	col  *mdb.Collection
	name string
	keys bson.D
	// unique indexes carry invariants: failing to create one is fatal.
	unique bool
	// ttl > -1 makes a TTL index; servers without TTL support get a
	// warning, since every read checks expiry itself.
	ttlSeconds int32
}

// EnsureIndexes creates every index the store needs; it is idempotent and
// New calls it. A server that cannot create TTL indexes (FerretDB answers
// NotImplemented) is logged and tolerated: expired records are then
// ignored by every read and removed by the writes that replace them.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	specs := []indexSpec{
		// The commit point of an agent's policy version.
		{s.policies, "tenant_agent_version", bson.D{{Key: "tenant_id", Value: 1}, {Key: "agent_id", Value: 1}, {Key: "version", Value: -1}}, true, -1},
		// Session listings, newest first, with or without an agent filter.
		{s.sessions, "tenant_newest", bson.D{{Key: "tenant_id", Value: 1}, {Key: "created_ns", Value: -1}, {Key: "_id", Value: -1}}, false, -1},
		{s.sessions, "tenant_agent_newest", bson.D{{Key: "tenant_id", Value: 1}, {Key: "agent_id", Value: 1}, {Key: "created_ns", Value: -1}, {Key: "_id", Value: -1}}, false, -1},
		// The commit point of a turn: only one writer can insert turn N.
		{s.turns, "session_turn", bson.D{{Key: "session_id", Value: 1}, {Key: "turn_number", Value: 1}}, true, -1},
		// Crashed holders' leases go away on their own where TTL exists;
		// so do deleted sessions' sealed leases, after tombstoneKeep.
		{s.leases, "purge_ttl", bson.D{{Key: "purge_at", Value: 1}}, false, 0},
		{s.leaseTakeovers, "expires_ttl", bson.D{{Key: "expires_at", Value: 1}}, false, 0},
		// Idempotency records and takeover markers: _id is the unique key;
		// expires_at is already past expiry plus a grace when TTL fires.
		{s.idem, "expires_ttl", bson.D{{Key: "expires_at", Value: 1}}, false, 0},
		{s.takeovers, "expires_ttl", bson.D{{Key: "expires_at", Value: 1}}, false, 0},
		// Rate slots: _id is the unique slot; the window's highest slot is
		// found through (key, window_start, slot).
		{s.rateSlots, "key_window_slot", bson.D{{Key: "key", Value: 1}, {Key: "window_start", Value: 1}, {Key: "slot", Value: -1}}, false, -1},
		{s.rateSlots, "expires_ttl", bson.D{{Key: "expires_at", Value: 1}}, false, 0},
	}
	for _, spec := range specs {
		opts := options.Index().SetName(spec.name)
		if spec.unique {
			opts.SetUnique(true)
		}
		if spec.ttlSeconds >= 0 {
			opts.SetExpireAfterSeconds(spec.ttlSeconds)
		}
		octx, cancel := s.op(ctx)
		_, err := spec.col.Indexes().CreateOne(octx, mdb.IndexModel{Keys: spec.keys, Options: opts})
		cancel()
		var ce mdb.CommandError
		if err != nil && spec.ttlSeconds >= 0 && errors.As(err, &ce) && (ce.Code == codeNotImplemented || ce.Name == "NotImplemented") {
			s.log.Warn("the server does not support TTL indexes; expired records stay until replaced (reads ignore them)",
				zap.String("collection", spec.col.Name()), zap.String("index", spec.name), zap.Error(err))
			continue
		}
		if err != nil {
			return s.fail(err, "create index "+spec.col.Name()+"."+spec.name)
		}
	}
	return nil
}

// op bounds one round trip by the configured operation timeout; the
// caller's own deadline still applies when it is sooner.
func (s *Store) op(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.OperationTimeout)
}

// fail maps a driver error to Focal's codes: no answer in time (deadline,
// cancellation, network, server selection) is STORE_UNAVAILABLE; anything
// the server answered with is INTERNAL_ERROR. Domain errors pass through.
func (s *Store) fail(err error, what string) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return err
	}
	cause := fmt.Errorf("mongo %s: %w", what, err)
	if isUnavailable(err) {
		return domain.WrapError(domain.CodeStoreUnavailable, cause, "the store did not answer in time")
	}
	return domain.WrapError(domain.CodeInternal, cause, "the store failed")
}

func isUnavailable(err error) bool {
	var sel topology.ServerSelectionError
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		mdb.IsTimeout(err) || mdb.IsNetworkError(err) || errors.Is(err, mdb.ErrClientDisconnected) ||
		errors.As(err, &sel)
}

// stopped reports a wait that ended because its caller's context did.
func stopped(ctx context.Context) error {
	return domain.WrapError(domain.CodeStoreUnavailable, context.Cause(ctx), "the store did not answer in time")
}

// concurrently runs a here and b on a goroutine of its own, waits for both
// and returns their errors: two independent reads cost one round trip of
// latency.
func concurrently(a, b func() error) (errA, errB error) {
	done := make(chan error, 1)
	go func() { done <- b() }()
	errA = a()
	return errA, <-done
}

func badCursor() error {
	return domain.InvalidFields(domain.FieldError{Field: "cursor", Message: "is not a cursor this listing issued"})
}
