package chaos

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"focal/test/harness"
)

// BuildFocal builds cmd/focal into dir and returns the binary's path.
func BuildFocal(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "focal")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/focal")
	cmd.Dir = repoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// process is `focal serve` as a child process.
type process struct {
	cmd    *exec.Cmd
	url    string
	exited chan struct{} // closed once its output ended and it was waited for
	err    error         // its exit, once exited is closed
}

// serve starts bin with env on 127.0.0.1:0 and returns once it logged the
// address it listens on.
func serve(ctx context.Context, bin string, env []string, log io.Writer) (*process, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "FOCAL_HTTP_ADDR=127.0.0.1:0", "FOCAL_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	listening := make(chan string, 1)
	go func() {
		harness.ForwardLog(out, log, listening)
		p.err = cmd.Wait()
		close(p.exited)
	}()
	select {
	case addr := <-listening:
		p.url = "http://" + addr
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("focal exited before listening: %v", p.err)
	case <-time.After(2 * time.Minute):
		p.kill()
		return nil, fmt.Errorf("focal did not report its address")
	case <-ctx.Done():
		p.kill()
		return nil, ctx.Err()
	}
}

// kill ends the process with SIGKILL and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// terminate sends SIGTERM and waits up to bound for the exit.
func (p *process) terminate(bound time.Duration) (time.Duration, error) {
	began := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-p.exited:
		return time.Since(began), p.err
	case <-time.After(bound):
		p.kill()
		return time.Since(began), fmt.Errorf("no exit within %s of SIGTERM", bound)
	}
}

// logTail keeps the last 256 KiB written to it.
type logTail struct {
	mu  sync.Mutex
	buf []byte
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - 256<<10; over > 0 {
		l.buf = append([]byte(nil), l.buf[over:]...)
	}
	return len(p), nil
}

func (l *logTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}
