package mongo

import (
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/require"
)

func TestConfigFromEnvironment(t *testing.T) {
	var cfg Config
	require.NoError(t, env.ParseWithOptions(&cfg, env.Options{Prefix: "FOCAL_", Environment: map[string]string{}}))
	require.Equal(t, Config{
		URI: "mongodb://localhost:27017", Database: "focal", OperationTimeout: 5 * time.Second, MaxPoolSize: 100,
		ConnectTimeout: 10 * time.Second, ServerSelectionTimeout: 5 * time.Second, LeaseClockSkew: 5 * time.Second,
	}, cfg, "defaults")
	require.NoError(t, cfg.Validate())

	require.NoError(t, env.ParseWithOptions(&cfg, env.Options{Prefix: "FOCAL_", Environment: map[string]string{
		"FOCAL_MONGO_URI": "mongodb+srv://db.example", "FOCAL_MONGO_DB": "chat", "FOCAL_MONGO_OPERATION_TIMEOUT": "2s",
		"FOCAL_MONGO_MAX_POOL_SIZE": "10", "FOCAL_MONGO_MIN_POOL_SIZE": "2", "FOCAL_MONGO_LEASE_CLOCK_SKEW": "30s",
	}}))
	require.Equal(t, 30*time.Second, cfg.LeaseClockSkew)
	require.Equal(t, "mongodb+srv://db.example", cfg.URI)
	require.Equal(t, "chat", cfg.Database)
	require.Equal(t, 2*time.Second, cfg.OperationTimeout)
	require.EqualValues(t, 10, cfg.MaxPoolSize)
	require.EqualValues(t, 2, cfg.MinPoolSize)
	require.NoError(t, cfg.Validate())
}

func TestConfigValidate(t *testing.T) {
	good := Config{URI: "mongodb://h"}.WithDefaults()
	require.NoError(t, good.Validate())
	for name, mutate := range map[string]func(*Config){
		"uri scheme":      func(c *Config) { c.URI = "http://h" },
		"empty database":  func(c *Config) { c.Database = "" },
		"dotted database": func(c *Config) { c.Database = "a.b" },
		"op timeout":      func(c *Config) { c.OperationTimeout = 0 },
		"connect timeout": func(c *Config) { c.ConnectTimeout = -time.Second },
		"pool":            func(c *Config) { c.MaxPoolSize = 0 },
		"min over max":    func(c *Config) { c.MinPoolSize = 101 },
		"negative skew":   func(c *Config) { c.LeaseClockSkew = -time.Second },
	} {
		c := good
		mutate(&c)
		require.Error(t, c.Validate(), name)
	}
}
