package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"focal/test/faultproxy"
)

// Stores a run can use. A run's target is the MongoDB test server's
// host:port, or the PostgreSQL test server's URL.
const (
	StoreMongo    = "mongo"
	StorePostgres = "postgres"
)

// Stores are every store make chaos can run on, in the order it runs them.
var Stores = []string{StoreMongo, StorePostgres}

// StoreName is how the sections name a store.
func StoreName(store string) string {
	if store == StorePostgres {
		return "PostgreSQL"
	}
	return "MongoDB"
}

// serverAddr is the host:port of the store's server, where a proxy sends
// what it relays.
func serverAddr(store, target string) (string, error) {
	if store == StorePostgres {
		return postgresHost(target)
	}
	return target, nil
}

// startStoreProxy starts faultproxy on ln in front of the store's server,
// speaking its wire protocol.
func startStoreProxy(store string, ln net.Listener, cfg faultproxy.Config) *faultproxy.Proxy {
	if store == StorePostgres {
		return faultproxy.StartPostgres(ln, cfg)
	}
	return faultproxy.Start(ln, cfg)
}

// storeEnv points Focal at database, reaching the store's server at addr
// (the server itself or a proxy in front of it), each store call bounded
// by timeout and opening a connection by connect.
func storeEnv(store, target, addr, database string, timeout, connect time.Duration) map[string]string {
	if store == StorePostgres {
		focalURL, _ := postgresDB(target, addr, database) // target was read by serverAddr
		return map[string]string{
			"FOCAL_STORE":                      "postgres",
			"FOCAL_POSTGRES_URL":               focalURL,
			"FOCAL_POSTGRES_OPERATION_TIMEOUT": timeout.String(),
			"FOCAL_POSTGRES_CONNECT_TIMEOUT":   connect.String(),
		}
	}
	return map[string]string{
		"FOCAL_STORE":     "mongo",
		"FOCAL_MONGO_URI": "mongodb://" + addr + "/",
		"FOCAL_MONGO_DB":  database,
		// The test server is standalone (FerretDB).
		"FOCAL_MONGO_ALLOW_STANDALONE":         "true",
		"FOCAL_MONGO_OPERATION_TIMEOUT":        timeout.String(),
		"FOCAL_MONGO_SERVER_SELECTION_TIMEOUT": connect.String(),
	}
}

// envList is env as a process's KEY=value list, in a stable order.
func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// createDatabase creates database where the store needs it made first:
// PostgreSQL. MongoDB makes a database on its first write.
func createDatabase(ctx context.Context, store, target, database string) error {
	if store == StorePostgres {
		return createPostgresDB(ctx, target, database)
	}
	return nil
}

// DropDatabase drops a run's PostgreSQL database; a MongoDB one stays on
// the throwaway test server, as it always has.
func DropDatabase(ctx context.Context, store, target, database string) error {
	if store == StorePostgres {
		return DropPostgresDB(ctx, target, database)
	}
	return nil
}

// readBack reads every session and turn of the run's database directly,
// past Focal and any proxy.
func readBack(ctx context.Context, store, target, database string) (*storedState, error) {
	if store == StorePostgres {
		return readStoredPostgres(ctx, target, database)
	}
	return readStored(ctx, target, database)
}

// storedState is what the database holds after the load.
type storedState struct {
	sessions []storedSession
	turns    map[string]storedTurn // by turn id
	numbers  map[string][]int      // turn numbers by session id
}

type storedSession struct{ id, user, status string }

type storedTurn struct{ sessionID, response, message, status string }

// addTurn adds a turn from its stored record (the turn as JSON, the same
// in every store).
func (st *storedState) addTurn(id, sessionID string, number int, record string) error {
	var rec struct {
		Response string `json:"response"`
		Message  string `json:"message"`
		Status   string `json:"status"`
	}
	if err := json.Unmarshal([]byte(record), &rec); err != nil {
		return fmt.Errorf("turn %s: %w", id, err)
	}
	st.turns[id] = storedTurn{sessionID: sessionID, response: rec.Response, message: rec.Message, status: rec.Status}
	st.numbers[sessionID] = append(st.numbers[sessionID], number)
	return nil
}

// completed counts the completed turns stored per message.
func (st *storedState) completed() map[string]int {
	out := map[string]int{}
	for _, t := range st.turns {
		if t.status == "completed" {
			out[t.message]++
		}
	}
	return out
}

// readStored reads every session and turn of the run's database. The
// field names are the MongoDB store's (adapters/mongo).
func readStored(ctx context.Context, target, database string) (*storedState, error) {
	client, err := mongo.Connect(options.Client().ApplyURI("mongodb://" + target + "/"))
	if err != nil {
		return nil, err
	}
	defer func() { _ = client.Disconnect(context.WithoutCancel(ctx)) }()
	db := client.Database(database)
	st := &storedState{turns: map[string]storedTurn{}, numbers: map[string][]int{}}
	var sessions []struct {
		ID     string `bson:"_id"`
		User   string `bson:"user_channel_id"`
		Status string `bson:"status"`
	}
	if err := findAll(ctx, db.Collection("sessions"), &sessions); err != nil {
		return nil, err
	}
	for _, s := range sessions {
		st.sessions = append(st.sessions, storedSession{s.ID, s.User, s.Status})
	}
	var turns []struct {
		ID         string `bson:"_id"`
		SessionID  string `bson:"session_id"`
		TurnNumber int    `bson:"turn_number"`
		Record     string `bson:"record"`
	}
	if err := findAll(ctx, db.Collection("turns"), &turns); err != nil {
		return nil, err
	}
	for _, t := range turns {
		if err := st.addTurn(t.ID, t.SessionID, t.TurnNumber, t.Record); err != nil {
			return nil, err
		}
	}
	return st, nil
}

func findAll(ctx context.Context, col *mongo.Collection, out any) error {
	cur, err := col.Find(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("read %s: %w", col.Name(), err)
	}
	return cur.All(ctx, out)
}
