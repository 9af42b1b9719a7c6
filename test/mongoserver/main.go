// Command mongoserver runs an embedded FerretDB (SQLite backend) as a small
// MongoDB-compatible server for tests.
//
// It lives in its own Go module so that FerretDB and its large dependency
// tree never enter the main module's go.mod.
//
// Once the server accepts connections, its MongoDB URI is printed as the only
// line on stdout (and optionally written to -uri-file). It runs until SIGINT or
// SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "mongoserver: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free port)")
	dir := flag.String("dir", "", "SQLite data directory (default: a fresh temp dir, removed on exit)")
	uriFile := flag.String("uri-file", "", "if set, atomically write the MongoDB URI to this file once listening")
	flag.Parse()

	if flag.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", flag.Args())
	}
	return serve(*addr, *dir, *uriFile)
}

// serve runs FerretDB on addr with its data in dir until SIGINT or
// SIGTERM, printing its URI (and writing it to uriFile) once it listens.
func serve(addr, dir, uriFile string) error {
	// Catch signals before creating anything, so an early SIGTERM still
	// goes through the cleanup below instead of leaking a temp dir.
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()

	// Deferred before the server is started so it runs after the server has
	// stopped: FerretDB holds the SQLite files open until Run returns.
	dataDir, cleanup, err := prepareDataDir(dir)
	if err != nil {
		return err
	}
	defer cleanup()

	// A separate cancel lets us stop the server on start-up failures too,
	// not only on signals.
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()

	f, err := newFerretDB(addr, dataDir)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// On any exit path, stop the server and wait, so the SQLite files are
	// closed before the data dir is removed.
	defer func() {
		cancel()
		<-done
	}()

	uri, err := listening(ctx, f)
	if err != nil {
		if sigCtx.Err() != nil {
			return nil // asked to stop while starting: not a failure
		}
		return err
	}
	if uriFile != "" {
		if err = writeFileAtomic(uriFile, uri+"\n"); err != nil {
			return fmt.Errorf("writing URI file: %w", err)
		}
		// A URI file left behind would point readers at a dead server.
		defer os.Remove(uriFile)
	}
	fmt.Println(uri)

	select {
	case <-ctx.Done():
		// Restore default signal handling so a second Ctrl-C kills us even if
		// shutdown hangs (FerretDB gives open connections up to 3 s).
		stopSignals()
		return nil
	case err = <-done:
		done <- err // let the deferred wait complete
		return fmt.Errorf("FerretDB stopped unexpectedly: %v", err)
	}
}

// newFerretDB is a FerretDB on SQLite files in dataDir, listening on addr.
func newFerretDB(addr, dataDir string) (*ferretdb.FerretDB, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: addr},
		// FerretDB logs every error reply (e.g. duplicate keys that tests
		// trigger on purpose) at lower levels; keep the output to real problems.
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		Handler: "sqlite",
		// The SQLite backend requires an existing directory and a trailing
		// slash; each MongoDB database becomes one SQLite file inside it.
		SQLiteURL: "file:" + dataDir + "/",
	})
	if err != nil {
		return nil, fmt.Errorf("starting FerretDB: %w", err)
	}
	return f, nil
}

// listening returns the server's URI once its port accepts connections:
// callers treat the URI as "ready to use". Call it after Run has started.
func listening(ctx context.Context, f *ferretdb.FerretDB) (string, error) {
	// FerretDB documents that MongoDBURI may deadlock if called before Run
	// has started.
	uri := f.MongoDBURI()
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("parsing FerretDB URI %q: %w", uri, err)
	}
	if err := waitForTCP(ctx, u.Host, 10*time.Second); err != nil {
		return "", err
	}
	return uri, nil
}

// prepareDataDir returns an absolute data directory, creating it if needed,
// and a cleanup function that removes it only if it was a temp dir we created.
func prepareDataDir(dir string) (string, func(), error) {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "mongoserver-")
		if err != nil {
			return "", nil, fmt.Errorf("creating temp data dir: %w", err)
		}
		return tmp, func() { _ = os.RemoveAll(tmp) }, nil
	}

	// An absolute path keeps the file: URL unambiguous regardless of the
	// working directory.
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, fmt.Errorf("resolving data dir: %w", err)
	}
	if err = os.MkdirAll(abs, 0o755); err != nil {
		return "", nil, fmt.Errorf("creating data dir: %w", err)
	}
	return abs, func() {}, nil
}

// waitForTCP dials addr until it succeeds or timeout/ctx expires.
func waitForTCP(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var d net.Dialer
	for {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server on %s not accepting connections after %s: %w", addr, timeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeFileAtomic writes data via a temp file and rename, so a reader polling
// for the file never sees it empty or half-written.
func writeFileAtomic(path, data string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename

	if _, err = tmp.WriteString(data); err != nil {
		tmp.Close()
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
