package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Start-up refuses MongoDB settings weaker than Focal's invariants need:
// the process exits non-zero and says which setting and what to do.
func TestServeRefusesWeakMongoSettings(t *testing.T) {
	uri := strings.TrimSuffix(mongoURI(t), "/") + "/"
	for name, tc := range map[string]struct {
		env  []string
		want string
	}{
		"w=1 in the URI":         {[]string{"FOCAL_MONGO_URI=" + uri + "?w=1"}, "FOCAL_MONGO_URI asks for w=1"},
		"secondary reads":        {[]string{"FOCAL_MONGO_URI=" + uri + "?readPreference=secondaryPreferred"}, "readPreference=secondaryPreferred"},
		"journal off":            {[]string{"FOCAL_MONGO_URI=" + uri + "?journal=false"}, "journal=false"},
		"a standalone server":    {[]string{"FOCAL_MONGO_URI=" + uri}, "FOCAL_MONGO_ALLOW_STANDALONE=true"},
		"standalone not allowed": {[]string{"FOCAL_MONGO_URI=" + uri, "FOCAL_MONGO_ALLOW_STANDALONE=false"}, "is a standalone server"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(focalBinary(t), "serve")
			cmd.Env = append(withoutFocalVars(os.Environ()), append([]string{"FOCAL_HTTP_ADDR=127.0.0.1:0", "FOCAL_JWT_SECRET=" + e2eSecret,
				"FOCAL_STORE=mongo", "FOCAL_MONGO_DB=focal_refused", "FOCAL_LOG_FORMAT=console"}, tc.env...)...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				require.True(t, errors.As(err, &exit), "focal serve must fail, got %v\n%s", err, out.String())
				require.NotZero(t, exit.ExitCode())
				require.Contains(t, out.String(), tc.want)
			case <-time.After(60 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("focal serve started with %v:\n%s", tc.env, out.String())
			}
		})
	}
}

// withoutFocalVars drops the caller's own FOCAL_* settings, so each case
// says all the configuration it means.
func withoutFocalVars(environ []string) []string {
	var out []string
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "FOCAL_") {
			out = append(out, kv)
		}
	}
	return out
}
