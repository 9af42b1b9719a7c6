package mongo

import (
	"testing"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/stretchr/testify/require"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"focal/adapters/clock"
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

// A connection string asking for weaker guarantees than the invariants
// need is refused with a message naming the option; the store's own
// settings are majority writes, majority reads and the primary.
func TestConfigRefusesWeakURIOptions(t *testing.T) {
	for uri, want := range map[string]string{
		"mongodb://h/?w=1":                                     "w=1",
		"mongodb://h/?w=0":                                     "w=0",
		"mongodb://h/?w=2":                                     "w=2",
		"mongodb://h/?W=1":                                     "w=1",
		"mongodb://h/?journal=false":                           "journal=false",
		"mongodb://h/?readPreference=secondaryPreferred":       "readPreference=secondaryPreferred",
		"mongodb://h/?readpreference=nearest":                  "readPreference=nearest",
		"mongodb://h/?readConcernLevel=local":                  "readConcernLevel=local",
		"mongodb://h/?retryWrites=false":                       "retryWrites=false",
		"mongodb+srv://cluster0.example.net/?w=1&appName=copy": "w=1",
	} {
		c := Config{URI: uri}.WithDefaults()
		err := c.Validate()
		require.Error(t, err, uri)
		require.Contains(t, err.Error(), "FOCAL_MONGO_URI asks for "+want, uri)
	}
	for _, uri := range []string{
		"mongodb://h", "mongodb://h/", "mongodb://a,b,c/?replicaSet=rs0",
		"mongodb://h/?w=majority&journal=true&readPreference=primary&readConcernLevel=majority&retryWrites=true",
		"mongodb+srv://cluster0.example.net/?retryWrites=true&w=majority&appName=Cluster0",
	} {
		c := Config{URI: uri}.WithDefaults()
		require.NoError(t, c.Validate(), uri)
	}
}

// What the server says it is decides which commands the stores send.
func TestCapabilitiesFromTheServer(t *testing.T) {
	ferret := "1.24.2"
	c, err := capabilitiesOf(buildInfo{Version: "7.0.42", VersionArray: []int32{7, 0, 42}, FerretDBVersion: &ferret}, helloReply{})
	require.NoError(t, err)
	require.Equal(t, capabilities{standalone: true, server: "FerretDB 1.24.2, MongoDB 7.0.42 wire protocol"}, c,
		"FerretDB: none of the MongoDB features the stores use, a standalone server")

	c, err = capabilitiesOf(buildInfo{Version: "7.0.14", VersionArray: []int32{7, 0, 14}}, helloReply{SetName: "rs0"})
	require.NoError(t, err)
	require.Equal(t, capabilities{serverTime: true, lookup: true, atomicUpdates: true, ttl: true, server: "MongoDB 7.0.14"}, c)
	c, err = capabilitiesOf(buildInfo{Version: "8.0.1", VersionArray: []int32{8, 0, 1}}, helloReply{Msg: "isdbgrid"})
	require.NoError(t, err)
	require.False(t, c.standalone, "a sharded cluster")
	c, err = capabilitiesOf(buildInfo{Version: "6.0.3", VersionArray: []int32{6, 0, 3}}, helloReply{})
	require.NoError(t, err)
	require.True(t, c.standalone, "no replica set name: standalone")

	_, err = capabilitiesOf(buildInfo{Version: "5.0.9", VersionArray: []int32{5, 0, 9}}, helloReply{SetName: "rs0"})
	require.ErrorContains(t, err, "needs MongoDB 6.0 or newer")
}

// Majority writes, majority reads and primary reads are the store's own
// settings, set over whatever the URI carries.
func TestOpenSetsDurableSettings(t *testing.T) {
	for _, uri := range []string{"mongodb://h/", "mongodb://h/?w=majority&readPreference=primary&appName=x&retryWrites=true"} {
		db, err := Open(Config{URI: uri}, clock.System{}, nil)
		require.NoError(t, err)
		o := db.options
		require.Equal(t, "majority", o.WriteConcern.W, uri)
		require.Equal(t, "majority", o.ReadConcern.Level, uri)
		require.Equal(t, readpref.PrimaryMode, o.ReadPreference.Mode(), uri)
		require.True(t, *o.RetryWrites, uri)
		require.True(t, *o.RetryReads, uri)
		require.Nil(t, db.client, "Open does no I/O: Start connects")
	}
}
