package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	httpapi "focal/adapters/http"
	"focal/test/harness"
)

// quietNode keeps the npm tools from phoning home or nagging about updates.
var quietNode = []string{"REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_UPDATE_NOTIFIER=1", "NO_COLOR=1"}

// The served API document passes Redocly's recommended rules with no error
// and no warning.
func TestOpenAPIDocumentPassesRedoclyLint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the npm test tools")
	}
	bin := harness.NodeTools(t)
	dir := t.TempDir() // no redocly.yaml around: the recommended rules as they are
	doc := filepath.Join(dir, "openapi.json")
	require.NoError(t, os.WriteFile(doc, httpapi.OpenAPIDocument(), 0o600))
	cmd := exec.Command(filepath.Join(bin, "redocly"), "lint", doc, "--extends", "recommended", "--format", "json")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), quietNode...)
	out, err := cmd.Output()
	var report struct {
		Totals   struct{ Errors, Warnings, Ignored int } `json:"totals"`
		Problems []struct {
			RuleID   string `json:"ruleId"`
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Location []struct {
				Pointer string `json:"pointer"`
			} `json:"location"`
		} `json:"problems"`
	}
	require.NoError(t, json.Unmarshal(out, &report), "redocly lint printed no report (%v):\n%s", err, out)
	for _, p := range report.Problems {
		where := ""
		if len(p.Location) > 0 {
			where = p.Location[0].Pointer
		}
		t.Errorf("redocly %s %s at %s: %s", p.Severity, p.RuleID, where, p.Message)
	}
	assert.Zero(t, report.Totals.Errors, "errors")
	assert.Zero(t, report.Totals.Warnings, "warnings")
	assert.Zero(t, report.Totals.Ignored, "ignored problems")
}

// startBinary runs the built focal with the demo agent, the memory store
// and the offline model on a port of its choosing, and returns its base URL.
func startBinary(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command(focalBinary(t), "serve")
	cmd.Env = append(os.Environ(), append([]string{"FOCAL_HTTP_ADDR=127.0.0.1:0", "FOCAL_JWT_SECRET=" + e2eSecret,
		"FOCAL_LOG_FORMAT=json", "FOCAL_BOOTSTRAP_BUNDLE=" + filepath.Join(harness.RepoRoot(), "examples", "demo-agent.yaml")}, env...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logs, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		sent := false
		for sc.Scan() { // keep reading so the server never blocks on its log
			var line struct{ Msg, Addr string }
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				addr <- line.Addr
				sent = true
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		require.True(t, ok, "focal exited before listening")
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("focal did not start listening within 30s")
		return ""
	}
}

// A contract suite generated from the served document by Portman, as QA
// teams build one, runs green with Newman against a live focal with the
// demo agent: every operation is called with the document's examples and
// every response checked against the document.
func TestPortmanContractSuitePassesWithNewman(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the npm test tools and the binary")
	}
	bin := harness.NodeTools(t)
	// A sealing key, so that the tenant's model key examples can be stored.
	base := startBinary(t, "FOCAL_SECRET_KEY=Zm9jYWwtZGV2LXNlYWxpbmcta2V5LW5vdC1zZWNyZXQ=")
	token, err := httpapi.SignToken(e2eSecret, httpapi.TokenRequest{TenantID: harness.DemoTenant, Subject: "qa",
		Roles: []string{"admin"}, Tier: httpapi.TierEnterprise, TTL: time.Hour}, time.Now())
	require.NoError(t, err)

	tools := filepath.Join(harness.RepoRoot(), "test", "tools")
	dir := t.TempDir() // portman leaves its working files in the current directory
	collection := filepath.Join(dir, "collection.json")
	run := func(name string, args ...string) []byte {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), quietNode...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %s:\n%s", name, strings.Join(args, " "), out)
		return out
	}
	run("portman", "--url", base+"/openapi.json", "--baseUrl", base, "--output", collection, "--warn", "false",
		"--portmanConfigFile", filepath.Join(tools, "portman-config.json"),
		"--postmanConfigFile", filepath.Join(tools, "postman-config.json"))

	results := filepath.Join(dir, "newman.json")
	cmd := exec.Command(filepath.Join(bin, "newman"), "run", collection, "--env-var", "bearerToken="+token,
		"--reporters", "cli,json", "--reporter-json-export", results, "--color", "off")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), quietNode...)
	out, runErr := cmd.CombinedOutput()
	raw, err := os.ReadFile(results)
	require.NoError(t, err, "newman wrote no report (%v):\n%s", runErr, out)
	var report struct {
		Run struct {
			Stats    map[string]struct{ Total, Failed int } `json:"stats"`
			Failures []struct {
				Error struct {
					Test    string `json:"test"`
					Message string `json:"message"`
				} `json:"error"`
				Source struct {
					Name string `json:"name"`
				} `json:"source"`
			} `json:"failures"`
		} `json:"run"`
	}
	require.NoError(t, json.Unmarshal(raw, &report))
	for _, f := range report.Run.Failures {
		t.Errorf("newman: %s: %s: %s", f.Source.Name, f.Error.Test, f.Error.Message)
	}
	stats := report.Run.Stats
	t.Logf("newman: %d requests, %d assertions, %d failed", stats["requests"].Total, stats["assertions"].Total, stats["assertions"].Failed)
	assert.NoError(t, runErr, "newman exit status:\n%s", out)
	assert.Zero(t, stats["requests"].Failed, "requests that got no answer")
	assert.Zero(t, stats["assertions"].Failed, "failed assertions")

	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPIDocument())
	require.NoError(t, err)
	operations := 0
	for _, item := range doc.Paths.Map() {
		operations += len(item.Operations())
	}
	assert.Equal(t, operations, stats["requests"].Total, "one request per documented operation")
	assert.GreaterOrEqual(t, stats["assertions"].Total, 4*operations, "every operation checked for status, content type, body and headers")
}
