package sqlite

import (
	"errors"
	"time"
)

// Config is the SQLite store's configuration. The loader adds the FOCAL_
// prefix to every variable (FOCAL_SQLITE_PATH, ...).
type Config struct {
	// Path is the database file; its directory is created when missing.
	Path string `env:"SQLITE_PATH" envDefault:"focal.db" yaml:"path"`
	// BusyTimeout is how long a statement waits for a lock another
	// process holds on the file before it fails (STORE_UNAVAILABLE).
	BusyTimeout time.Duration `env:"SQLITE_BUSY_TIMEOUT" envDefault:"5s" yaml:"busy_timeout"`
	// OperationTimeout bounds every store call; the caller's own deadline
	// still applies when it is sooner.
	OperationTimeout time.Duration `env:"SQLITE_OPERATION_TIMEOUT" envDefault:"5s" yaml:"operation_timeout"`
	// Readers is how many connections read at once beside the one writer.
	Readers int `env:"SQLITE_READERS" envDefault:"4" yaml:"readers"`
}

// Defaults used for zero fields of a Config built in code.
const (
	DefaultBusyTimeout      = 5 * time.Second
	DefaultOperationTimeout = 5 * time.Second
	DefaultReaders          = 4
)

// WithDefaults returns c with every zero field given its default.
func (c Config) WithDefaults() Config {
	if c.BusyTimeout == 0 {
		c.BusyTimeout = DefaultBusyTimeout
	}
	if c.OperationTimeout == 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.Readers == 0 {
		c.Readers = DefaultReaders
	}
	return c
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("FOCAL_SQLITE_PATH must name a file"))
	}
	if c.BusyTimeout <= 0 || c.OperationTimeout <= 0 {
		errs = append(errs, errors.New("FOCAL_SQLITE_BUSY_TIMEOUT and FOCAL_SQLITE_OPERATION_TIMEOUT must be positive"))
	}
	if c.Readers < 1 {
		errs = append(errs, errors.New("FOCAL_SQLITE_READERS must be at least 1"))
	}
	return errors.Join(errs...)
}
