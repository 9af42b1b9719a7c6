package mongo

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Config is the MongoDB store's configuration. The loader adds the FOCAL_
// prefix to every variable (FOCAL_MONGO_URI, FOCAL_MONGO_DB, ...).
type Config struct {
	// URI is the connection string (mongodb:// or mongodb+srv://).
	URI string `env:"MONGO_URI" envDefault:"mongodb://localhost:27017" yaml:"uri"`
	// Database holds every collection of the service.
	Database string `env:"MONGO_DB" envDefault:"focal" yaml:"database"`
	// OperationTimeout bounds every single round trip; the caller's own
	// deadline still applies when it is sooner.
	OperationTimeout time.Duration `env:"MONGO_OPERATION_TIMEOUT" envDefault:"5s" yaml:"operation_timeout"`
	// MaxPoolSize caps the connections per server.
	MaxPoolSize uint64 `env:"MONGO_MAX_POOL_SIZE" envDefault:"100" yaml:"max_pool_size"`
	// MinPoolSize keeps this many connections per server open.
	MinPoolSize uint64 `env:"MONGO_MIN_POOL_SIZE" envDefault:"0" yaml:"min_pool_size"`
	// ConnectTimeout bounds opening one connection.
	ConnectTimeout time.Duration `env:"MONGO_CONNECT_TIMEOUT" envDefault:"10s" yaml:"connect_timeout"`
	// ServerSelectionTimeout is how long an operation waits for a usable
	// server before it fails with STORE_UNAVAILABLE.
	ServerSelectionTimeout time.Duration `env:"MONGO_SERVER_SELECTION_TIMEOUT" envDefault:"5s" yaml:"server_selection_timeout"`
	// LeaseClockSkew bounds how far clocks may disagree about a lease's
	// expiry: those of the replica set's members on MongoDB (expiry is
	// written and judged by the primary's clock), those of the instances
	// on servers without server-side time (each instance checks its own
	// clock against the server's and takes no lease over while it is off
	// by more than half of this). A holder commits without reading its
	// lease back until the lease's expiry minus this skew (less the
	// write's own deadline). Larger is safer and only costs that read on
	// turns near their lease's end.
	LeaseClockSkew time.Duration `env:"MONGO_LEASE_CLOCK_SKEW" envDefault:"5s" yaml:"lease_clock_skew"`
	// AllowStandalone lets the store run on a standalone server, which has
	// no replication (an acknowledged write lives on one disk) and no
	// retryable writes: for development and tests only.
	AllowStandalone bool `env:"MONGO_ALLOW_STANDALONE" envDefault:"false" yaml:"allow_standalone"`
}

// Defaults used for zero fields when a Config is built in code rather than
// loaded from the environment.
const (
	DefaultDatabase               = "focal"
	DefaultOperationTimeout       = 5 * time.Second
	DefaultMaxPoolSize            = 100
	DefaultConnectTimeout         = 10 * time.Second
	DefaultServerSelectionTimeout = 5 * time.Second
	DefaultLeaseClockSkew         = 5 * time.Second
)

// WithDefaults returns c with every zero field given its default.
func (c Config) WithDefaults() Config {
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.OperationTimeout == 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.MaxPoolSize == 0 {
		c.MaxPoolSize = DefaultMaxPoolSize
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ServerSelectionTimeout == 0 {
		c.ServerSelectionTimeout = DefaultServerSelectionTimeout
	}
	if c.LeaseClockSkew == 0 {
		c.LeaseClockSkew = DefaultLeaseClockSkew
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if !strings.HasPrefix(c.URI, "mongodb://") && !strings.HasPrefix(c.URI, "mongodb+srv://") {
		errs = append(errs, errors.New("FOCAL_MONGO_URI must start with mongodb:// or mongodb+srv://"))
	}
	if c.Database == "" || len(c.Database) > 63 || strings.ContainsAny(c.Database, `/\. "$*<>:|?`+"\x00") {
		errs = append(errs, errors.New(`FOCAL_MONGO_DB must be 1..63 characters without any of / \ . " $ * < > : | ? or spaces`))
	}
	if c.OperationTimeout <= 0 {
		errs = append(errs, errors.New("FOCAL_MONGO_OPERATION_TIMEOUT must be positive"))
	}
	if c.ConnectTimeout <= 0 || c.ServerSelectionTimeout <= 0 {
		errs = append(errs, errors.New("FOCAL_MONGO_CONNECT_TIMEOUT and FOCAL_MONGO_SERVER_SELECTION_TIMEOUT must be positive"))
	}
	if c.LeaseClockSkew < 0 {
		errs = append(errs, errors.New("FOCAL_MONGO_LEASE_CLOCK_SKEW must not be negative"))
	}
	if c.MaxPoolSize == 0 {
		errs = append(errs, errors.New("FOCAL_MONGO_MAX_POOL_SIZE must be at least 1"))
	}
	if c.MinPoolSize > c.MaxPoolSize {
		errs = append(errs, fmt.Errorf("FOCAL_MONGO_MIN_POOL_SIZE (%d) must not exceed FOCAL_MONGO_MAX_POOL_SIZE (%d)", c.MinPoolSize, c.MaxPoolSize))
	}
	errs = append(errs, checkURIOptions(c.URI))
	return errors.Join(errs...)
}

// checkURIOptions refuses a connection string that asks for weaker
// guarantees than the store's invariants need. The store sets majority
// writes, majority reads and primary reads itself after applying the URI;
// a URI that asks for less is a mistake to report, not to override
// silently (copied connection strings often carry w=1 or
// readPreference=secondaryPreferred). Only the query string is read, so no
// DNS lookup happens here; SRV TXT records cannot carry these options.
func checkURIOptions(uri string) error {
	_, query, _ := strings.Cut(uri, "?")
	values, err := url.ParseQuery(query)
	if err != nil {
		return fmt.Errorf("FOCAL_MONGO_URI: the options after ? cannot be read: %w", err)
	}
	var errs []error
	refuse := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("FOCAL_MONGO_URI asks for "+format, args...))
	}
	for _, name := range slices.Sorted(maps.Keys(values)) {
		vals := values[name]
		v := strings.ToLower(vals[len(vals)-1])
		switch strings.ToLower(name) {
		case "w":
			if v != "majority" {
				refuse("w=%s: an acknowledged write could be rolled back at failover; Focal writes with w=majority, remove the option", vals[len(vals)-1])
			}
		case "journal", "j":
			if v == "false" {
				refuse("%s=false: Focal's writes must be journaled, remove the option", name)
			}
		case "readpreference":
			if v != "primary" {
				refuse("readPreference=%s: a lagging secondary would serve stale sessions and leases; Focal reads from the primary, remove the option", vals[len(vals)-1])
			}
		case "readconcernlevel":
			if v != "majority" {
				refuse("readConcernLevel=%s: Focal reads with majority read concern, remove the option", vals[len(vals)-1])
			}
		case "retrywrites":
			if v == "false" {
				refuse("retryWrites=false: Focal relies on retryable writes across failovers, remove the option")
			}
		}
	}
	return errors.Join(errs...)
}
