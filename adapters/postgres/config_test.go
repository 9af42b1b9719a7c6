package postgres

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/adapters/clock"
)

// A configuration the pool could not honour is refused by Open, before any
// I/O, with the variable to fix named; zero fields take their defaults.
func TestOpenRefusesABadConfig(t *testing.T) {
	good := Config{URL: "postgres://localhost:5432/focal", MaxConns: 4, MinConns: 2}
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		names string
	}{
		{"an unreadable URL", func(c *Config) { c.URL = "postgres://host:port/db" }, "FOCAL_POSTGRES_URL"},
		{"a negative operation timeout", func(c *Config) { c.OperationTimeout = -time.Second }, "FOCAL_POSTGRES_OPERATION_TIMEOUT"},
		{"a negative connect timeout", func(c *Config) { c.ConnectTimeout = -time.Second }, "FOCAL_POSTGRES_CONNECT_TIMEOUT"},
		{"a negative ping threshold", func(c *Config) { c.PingIdleAfter = -time.Second }, "FOCAL_POSTGRES_PING_IDLE_AFTER"},
		{"no connections", func(c *Config) { c.MaxConns = -1 }, "FOCAL_POSTGRES_MAX_CONNS"},
		{"negative idle connections", func(c *Config) { c.MinConns = -1 }, "FOCAL_POSTGRES_MIN_CONNS"},
		{"more idle connections than the cap", func(c *Config) { c.MinConns = 5 }, "FOCAL_POSTGRES_MIN_CONNS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			_, err := Open(cfg, clock.System{}, zap.NewNop())
			require.ErrorContains(t, err, tc.names)
		})
	}

	db, err := Open(good, clock.System{}, zap.NewNop())
	require.NoError(t, err)
	require.Equal(t, DefaultOperationTimeout, db.cfg.OperationTimeout)
	require.Equal(t, DefaultConnectTimeout, db.poolCfg.ConnConfig.ConnectTimeout)
	require.Equal(t, DefaultPingIdleAfter, db.cfg.PingIdleAfter)
	require.Equal(t, int32(4), db.poolCfg.MaxConns)
	require.Equal(t, int32(2), db.poolCfg.MinConns)
}
