package e2e

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"focal/test/harness"

	"github.com/stretchr/testify/require"
)

// TestMain removes the binaries the run built.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, bin := range []string{binPath, mongoServerPath} {
		if bin != "" {
			_ = os.RemoveAll(filepath.Dir(bin))
		}
	}
	os.Exit(code)
}

// focalProcess is `focal serve` running as a child process.
type focalProcess struct {
	cmd  *exec.Cmd
	addr string // host:port it listens on
	logs *syncBuffer
	read chan struct{} // closed once its output has been read to the end
}

// serveFocal starts `focal serve` with env on 127.0.0.1:0 and returns once
// the process has logged the address it listens on: no port is picked and
// freed before use. The process is killed when the test ends; its log is
// shown when the test failed.
func serveFocal(t *testing.T, env ...string) *focalProcess {
	t.Helper()
	cmd := exec.Command(focalBinary(t), "serve")
	cmd.Env = append(os.Environ(), "FOCAL_HTTP_ADDR=127.0.0.1:0", "FOCAL_LOG_LEVEL=info", "FOCAL_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout // zap writes to stderr
	p := &focalProcess{cmd: cmd, logs: &syncBuffer{}, read: make(chan struct{})}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.read
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("focal serve log:\n%s", p.logs.String())
		}
	})

	listening := make(chan string, 1)
	go func() {
		defer close(p.read)
		harness.ForwardLog(out, p.logs, listening)
	}()
	select {
	case p.addr = <-listening:
	case <-p.read:
		t.Fatalf("focal serve exited before listening:\n%s", p.logs.String())
	case <-time.After(2 * time.Minute):
		t.Fatalf("focal serve did not report its address:\n%s", p.logs.String())
	}
	return p
}

// wait waits for the process to exit after its output has ended.
func (p *focalProcess) wait() error {
	<-p.read
	return p.cmd.Wait()
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tcpProxy forwards the connections made to its own listener, kept for the
// whole test, to a target that can change or vanish. A client configured
// with the proxy's address keeps it across a server restart on another
// port, without the test reserving a port it does not hold.
type tcpProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string // "" refuses connections: they are closed at once
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

func newTCPProxy(t *testing.T) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &tcpProxy{ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		_ = ln.Close()
		p.pointAt("")
		p.wg.Wait()
	})
	return p
}

// Addr is the address clients connect to.
func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

// pointAt sends new connections to target ("" refuses them) and cuts the
// connections open now.
func (p *tcpProxy) pointAt(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

func (p *tcpProxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // the listener closed: the test is over
		}
		p.mu.Lock()
		target := p.target
		p.mu.Unlock()
		if target == "" {
			_ = client.Close()
			continue
		}
		server, err := net.DialTimeout("tcp", target, 5*time.Second)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		if p.target != target { // re-pointed while dialling
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			continue
		}
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			_ = dst.Close()
			_ = src.Close()
			p.mu.Lock()
			delete(p.conns, dst)
			delete(p.conns, src)
			p.mu.Unlock()
		}
		p.wg.Go(func() { pipe(server, client) })
		p.wg.Go(func() { pipe(client, server) })
	}
}
