// Package chaos runs Focal on its MongoDB or PostgreSQL test server behind
// a fault-injecting proxy (test/faultproxy) under a load of chat turns, then
// reads everything back and counts what a failover-safe store must never
// do: a turn stored twice, a turn answered but not stored, a channel
// identity with two active sessions, an answer that is neither the
// committed turn nor a retryable error.
//
// A reduced run is a test (make test); the full run is `make chaos`, which
// writes its figures into docs/benchmarks.md.
package chaos

import (
	"context"
	"fmt"
	"maps"
	"net"
	"path/filepath"
	"runtime"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	httpapi "focal/adapters/http"
	"focal/adapters/mongo"
	"focal/bootstrap"
	"focal/test/faultproxy"
)

// Fixed ids of the demo bundle (examples/demo-agent.yaml).
const (
	demoTenant = "550e8400-e29b-41d4-a716-446655440000"
	demoAgent  = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	secret     = "chaos-secret-chaos-secret-chaos-secret-01"
)

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// operationTimeout bounds each store call; delayed replies reach past it.
const operationTimeout = 5 * time.Second

// instance is Focal on its store behind the proxy.
type instance struct {
	url   string
	token string
	app   *fx.App
	proxy *faultproxy.Proxy
	// server names what the store found at the other end.
	server string
}

// startFocal starts the proxy in front of the run's store, with faults
// off, and Focal on it, on the run's fresh database.
func startFocal(ctx context.Context, cfg Config, log *zap.Logger) (*instance, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	faults := cfg.Faults
	rate, refuse := faults.Rate, faults.RefuseRate
	faults.Rate, faults.RefuseRate = 0, 0 // the service starts on a healthy network
	if faults.Target, err = serverAddr(cfg.Store, cfg.Target); err != nil {
		_ = ln.Close()
		return nil, err
	}
	proxy := startStoreProxy(cfg.Store, ln, faults)
	env := storeEnv(cfg.Store, cfg.Target, proxy.Addr(), cfg.Database, operationTimeout, 3*time.Second)
	in, err := startApp(ctx, cfg, env, log)
	if err != nil {
		_ = proxy.Close()
		return nil, err
	}
	in.proxy = proxy
	proxy.SetRates(rate, refuse)
	return in, nil
}

// startApp starts Focal with storeEnv and signs a token for the demo
// tenant.
func startApp(ctx context.Context, cfg Config, storeEnv map[string]string, log *zap.Logger) (*instance, error) {
	env := map[string]string{
		"FOCAL_HTTP_ADDR":        "127.0.0.1:0",
		"FOCAL_JWT_SECRET":       secret,
		"FOCAL_BOOTSTRAP_BUNDLE": filepath.Join(repoRoot(), "examples", "demo-agent.yaml"),
		"FOCAL_LOG_LEVEL":        "error",
	}
	maps.Copy(env, storeEnv)
	appCfg, err := bootstrap.LoadConfigEnv("", env)
	if err != nil {
		return nil, err
	}
	var srv *bootstrap.Server
	var db *mongo.DB
	populate := fx.Populate(&srv)
	if cfg.Store != StorePostgres {
		populate = fx.Populate(&srv, &db)
	}
	app := fx.New(bootstrap.Options(appCfg, log, populate))
	if err := app.Err(); err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := app.Start(startCtx); err != nil {
		return nil, fmt.Errorf("start focal: %w", err)
	}
	token, err := httpapi.SignToken(secret, httpapi.TokenRequest{TenantID: demoTenant, Tier: httpapi.TierEnterprise,
		Roles: []string{"admin"}, TTL: 2 * time.Hour}, time.Now())
	if err != nil {
		_ = app.Stop(context.Background())
		return nil, err
	}
	in := &instance{url: "http://" + srv.Addr(), token: token, app: app}
	if db != nil {
		in.server = db.Server()
	} else {
		in.server = postgresServer(ctx, cfg.Target)
	}
	return in, nil
}

func (in *instance) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in.proxy.SetRates(0, 0)
	_ = in.app.Stop(ctx)
	_ = in.proxy.Close()
}

// DefaultFaults is the fault mix of the runs: 5% of the commands get one
// (a connection dropped after the command was sent, or before, or a reply
// delayed by up to 7.5s, past the operation timeout a third of the time),
// and 2% of new connections are refused.
func DefaultFaults(seed uint64) faultproxy.Config {
	return faultproxy.Config{Seed: seed, Rate: 0.05, Weights: [3]float64{1, 1, 1},
		MinDelay: 50 * time.Millisecond, MaxDelay: operationTimeout * 3 / 2, RefuseRate: 0.02}
}
