package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/bson"
	mdb "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"

	"focal/adapters/clock"
	"focal/domain"
)

// Every failover or transient condition, in the driver's own error types,
// is STORE_UNAVAILABLE (so a commit is read back rather than reported
// failed); every definite answer of the server is not.
func TestClassifier(t *testing.T) {
	serverCode := func(code int32, name string) error { return mdb.CommandError{Code: code, Name: name, Message: name} }
	labelled := func(label string) error {
		return mdb.CommandError{Code: 1, Name: "InternalError", Labels: []string{label}}
	}
	writeConcern := func(code int, name string) error {
		return mdb.WriteException{WriteConcernError: &mdb.WriteConcernError{Code: code, Name: name, Message: name}}
	}
	transientCases := map[string]error{
		"NotWritablePrimary 10107":               serverCode(10107, "NotWritablePrimary"),
		"InterruptedDueToReplStateChange 11602":  serverCode(11602, "InterruptedDueToReplStateChange"),
		"PrimarySteppedDown 189":                 serverCode(189, "PrimarySteppedDown"),
		"ShutdownInProgress 91":                  serverCode(91, "ShutdownInProgress"),
		"InterruptedAtShutdown 11600":            serverCode(11600, "InterruptedAtShutdown"),
		"NotPrimaryNoSecondaryOk 13435":          serverCode(13435, "NotPrimaryNoSecondaryOk"),
		"NotPrimaryOrSecondary 13436":            serverCode(13436, "NotPrimaryOrSecondary"),
		"HostUnreachable 6":                      serverCode(6, "HostUnreachable"),
		"HostNotFound 7":                         serverCode(7, "HostNotFound"),
		"NetworkTimeout 89":                      serverCode(89, "NetworkTimeout"),
		"SocketException 9001":                   serverCode(9001, "SocketException"),
		"ExceededTimeLimit 262":                  serverCode(262, "ExceededTimeLimit"),
		"MaxTimeMSExpired 50":                    serverCode(50, "MaxTimeMSExpired"),
		"ReadConcernMajorityNotAvailableYet 134": serverCode(134, "ReadConcernMajorityNotAvailableYet"),
		"WriteConcernFailed 64":                  writeConcern(64, "WriteConcernFailed"),
		"UnsatisfiableWriteConcern 100":          writeConcern(100, "UnsatisfiableWriteConcern"),
		"any write concern error":                writeConcern(79, "UnknownReplWriteConcern"),
		"write concern error in a bulk write": mdb.BulkWriteException{
			WriteConcernError: &mdb.WriteConcernError{Code: 64, Name: "WriteConcernFailed"}},
		"any write concern error in a bulk write": mdb.BulkWriteException{
			WriteConcernError: &mdb.WriteConcernError{Code: 79, Name: "UnknownReplWriteConcern"}},
		"not primary as a write error": mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 10107, Message: "not primary"}}},
		"RetryableWriteError label":    labelled("RetryableWriteError"),
		"TransientTransactionError":    labelled("TransientTransactionError"),
		"NetworkError label":           labelled("NetworkError"),
		"labels on a write exception":  mdb.WriteException{Labels: []string{"RetryableWriteError"}, WriteErrors: mdb.WriteErrors{{Code: 1}}},
		"server selection timeout":     topology.ServerSelectionError{Wrapped: errors.New("context deadline exceeded")},
		"connection closed by the peer": topology.ConnectionError{ConnectionID: "localhost:27017[-3]",
			Wrapped: io.EOF},
		"connection refused": topology.ConnectionError{ConnectionID: "localhost:27017[-4]",
			Wrapped: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}},
		"pool checkout timeout":          topology.WaitQueueTimeoutError{Wrapped: context.DeadlineExceeded},
		"pool closed":                    topology.ErrPoolClosed,
		"pool cleared":                   poolCleared{},
		"client disconnected":            mdb.ErrClientDisconnected,
		"operation deadline":             context.DeadlineExceeded,
		"caller cancelled":               context.Canceled,
		"deadline would be exceeded":     driver.ErrDeadlineWouldBeExceeded,
		"unexpected EOF":                 io.ErrUnexpectedEOF,
		"a network error":                &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET},
		"wrapped by the store's context": fmt.Errorf("mongo commit turn: %w", serverCode(10107, "NotWritablePrimary")),
		"FerretDB's time limit": mdb.CommandError{Code: 1, Name: "InternalError",
			Message: "[msg_find.go:344 handler.handleMaxTimeMSError] [collection.go:94 sqlite.(*collection).Query] interrupted (9)"},
		"FerretDB too busy to write": mdb.CommandError{Code: 1, Name: "InternalError",
			Message: "[msg_insert.go:168 handler.(*Handler).MsgInsert] [collection.go:135 sqlite.(*collection).InsertAll.func1] database is locked (5) (SQLITE_BUSY)"},
		"FerretDB's table locked": mdb.CommandError{Code: 1, Name: "InternalError",
			Message: "[msg_update.go:90 handler.(*Handler).MsgUpdate] database table is locked (6) (SQLITE_LOCKED)"},
	}
	for name, err := range transientCases {
		assert.True(t, transient(err), "%s is transient", name)
		mapped := fail(err, "commit turn")
		assert.True(t, domain.IsCode(mapped, domain.CodeStoreUnavailable), "%s: want STORE_UNAVAILABLE, got %v", name, mapped)
		assert.True(t, unknownOutcome(mapped), name)
		assert.Contains(t, mapped.Error(), err.Error(), "%s: the cause is kept", name)
	}

	definite := map[string]error{
		"duplicate key":          mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 11000, Message: "E11000 duplicate key error"}}},
		"bad value":              serverCode(2, "BadValue"),
		"unauthorized":           serverCode(13, "Unauthorized"),
		"validation":             mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 121, Message: "Document failed validation"}}},
		"not found":              mdb.ErrNoDocuments,
		"a plain error":          errors.New("decode: cannot decode string into an integer type"),
		"another internal error": mdb.CommandError{Code: 1, Name: "InternalError", Message: "[msg_update.go:90] duplicate key"},
	}
	for name, err := range definite {
		assert.False(t, transient(err), "%s is a definite answer", name)
		mapped := fail(err, "commit turn")
		assert.True(t, domain.IsCode(mapped, domain.CodeInternal), "%s: want INTERNAL_ERROR, got %v", name, mapped)
	}

	require.NoError(t, fail(nil, "x"))
	busy := domain.Errorf(domain.CodeSessionBusy, "busy")
	require.Same(t, busy, fail(busy, "x"), "domain errors pass through")
	assert.True(t, duplicate(definite["duplicate key"]))
	assert.True(t, duplicate(mdb.CommandError{Code: 11000, Name: "DuplicateKey"}))
	assert.True(t, duplicate(mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 11000}},
		WriteConcernError: &mdb.WriteConcernError{Code: 64}}) && transient(mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 11000}},
		WriteConcernError: &mdb.WriteConcernError{Code: 64}}), "a duplicate with a write concern error is both: callers read it back")
}

// poolCleared is shaped like the driver's unexported pool-cleared error,
// which announces itself retryable.
type poolCleared struct{}

func (poolCleared) Error() string   { return "connection pool for localhost:27017 was cleared" }
func (poolCleared) Retryable() bool { return true }

// The store's classifier is also what a real unreachable server and a
// disconnected client produce.
func TestUnreachableServerIsStoreUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err := Connect(ctx, Config{URI: "mongodb://127.0.0.1:1/?connectTimeoutMS=200", ServerSelectionTimeout: 300 * time.Millisecond},
		clock.System{}, nil)
	require.Error(t, err)
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "got %v", err)
}

func TestTimeoutsAndClosedClientAreStoreUnavailable(t *testing.T) {
	db := testDB(t)
	s := storesOf(db)
	ctx := t.Context()
	db.cfg.OperationTimeout = time.Nanosecond
	_, err := s.sessions.GetSession(ctx, "t", "s")
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "an operation timeout: got %v", err)
	db.cfg.OperationTimeout = DefaultOperationTimeout

	expired, cancel := context.WithTimeout(ctx, -time.Second)
	defer cancel()
	_, err = s.policies.GetPolicy(expired, "t", "a")
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "the caller's deadline: got %v", err)

	require.NoError(t, db.Ping(ctx))
	require.NoError(t, db.Database().Drop(ctx))
	require.NoError(t, db.client.Disconnect(ctx))
	err = db.Ping(ctx)
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a disconnected client: got %v", err)
	_, err = s.leases.LockSession(ctx, byIDReq("t", "s", time.Second, time.Second))
	require.True(t, domain.IsCode(err, domain.CodeStoreUnavailable), "a disconnected client: got %v", err)
}

// A duplicate on the _id index is this writer's own document when the _id
// is its own; MongoDB says which index in the message and the key pattern.
func TestDuplicateIDIsRecognised(t *testing.T) {
	byMessage := mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 11000,
		Message: `E11000 duplicate key error collection: focal.turns index: _id_ dup key: { _id: "t1" }`}}}
	raw, err := bson.Marshal(bson.D{{Key: "index", Value: 0}, {Key: "code", Value: 11000}, {Key: "errmsg", Value: "E11000"},
		{Key: "keyPattern", Value: bson.D{{Key: "_id", Value: 1}}}, {Key: "keyValue", Value: bson.D{{Key: "_id", Value: "t1"}}}})
	require.NoError(t, err)
	byPattern := mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 11000, Message: "E11000", Raw: raw}}}
	other := mdb.WriteException{WriteErrors: mdb.WriteErrors{{Code: 11000,
		Message: `E11000 duplicate key error collection: focal.turns index: session_turn dup key: { session_id: "s", turn_number: 2 }`}}}
	assert.True(t, duplicateID(byMessage))
	assert.True(t, duplicateID(byPattern))
	assert.False(t, duplicateID(other), "another unique index")
	assert.False(t, duplicateID(errors.New("E11000 index: _id_ ")), "not a write error")
}
