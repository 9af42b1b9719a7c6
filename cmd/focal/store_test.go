package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"focal/application"
	"focal/bootstrap"
	"focal/ports"
)

// startSQLiteCore starts the service's core, without HTTP, on a SQLite
// file with the offline model.
func startSQLiteCore(t *testing.T, path string) *bootstrap.Core {
	t.Helper()
	cfg, err := bootstrap.LoadConfigEnv("", map[string]string{"FOCAL_STORE": "sqlite", "FOCAL_SQLITE_PATH": path,
		"FOCAL_JWT_SECRET": strings.Repeat("s", 32), "FOCAL_LLM_PROVIDER": "offline"})
	require.NoError(t, err)
	core, err := bootstrap.StartCore(t.Context(), cfg, zap.NewNop())
	require.NoError(t, err)
	return core
}

// `focal store copy` moves a tenant's agent and sessions from one SQLite
// file to another: the target serves the agent's bundle as it was and the
// session's turns as they were recorded, explanations included
// (docs/operations.md, "Moving to another store"); a second run copies
// nothing.
func TestStoreCopyBetweenSQLiteFiles(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	from, to := filepath.Join(dir, "from.db"), filepath.Join(dir, "to.db")
	tenant := uuid.NewString()
	demo, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)

	src := startSQLiteCore(t, from)
	imported, err := src.Admin.ImportBundle(ctx, application.BundleImport{TenantID: tenant, Bundle: demo})
	require.NoError(t, err)
	agentID := imported.Policy.Agent.ID
	var sessionID string
	for _, msg := range []string{"hello", "I want to return my order"} {
		res, err := src.Chat.Chat(ctx, application.ChatCommand{TenantID: tenant, AgentID: agentID, Channel: "web", UserChannelID: "ann", Message: msg})
		require.NoError(t, err)
		sessionID = res.SessionID
	}
	wantBundle := exportBundle(t, src, tenant, agentID)
	wantTurns := turnsOf(t, src, tenant, sessionID)
	require.Len(t, wantTurns, 2)
	require.NoError(t, src.Stop(ctx))

	// The target as the service's configuration file names it.
	config := filepath.Join(dir, "target.yaml")
	require.NoError(t, os.WriteFile(config, []byte("store:\n  kind: sqlite\n  sqlite:\n    path: "+to+"\n"), 0o600))
	out, err := runCLI(t, "store", "copy", "--from", "sqlite:"+from, "--to", config, "--tenant", tenant)
	require.NoError(t, err, out)
	assert.Equal(t, "tenant "+tenant+": copied 1 agent (1 version), 1 session (2 turns), 0 model keys, 0 budgets; 0 already there\n", out)

	dst := startSQLiteCore(t, to)
	assert.Equal(t, wantBundle, exportBundle(t, dst, tenant, agentID), "the agent's bundle")
	assert.Equal(t, wantTurns, turnsOf(t, dst, tenant, sessionID), "the session's turns")
	require.NoError(t, dst.Stop(ctx))

	out, err = runCLI(t, "store", "copy", "--from", "sqlite:"+from, "--to", "sqlite:"+to, "--tenant", tenant)
	require.NoError(t, err, out)
	assert.Contains(t, out, ": copied 0 agents (0 versions), 0 sessions (0 turns), 0 model keys, 0 budgets; 2 already there\n")
}

// A store that is not there, or not durable, is refused before anything
// is written; so is a store copied onto itself, however each flag names
// it, with exit status 2.
func TestStoreCopyRefusesWhatItCannotCopy(t *testing.T) {
	dir := t.TempDir()
	tenant := uuid.NewString()
	memoryConfig := filepath.Join(dir, "memory.yaml")
	require.NoError(t, os.WriteFile(memoryConfig, []byte("store:\n  kind: memory\n"), 0o600))
	for _, c := range []struct {
		from, to, want string
	}{
		{"sqlite:" + filepath.Join(dir, "missing.db"), "sqlite:" + filepath.Join(dir, "to.db"), "the source SQLite file"},
		{"sqlite:" + filepath.Join(dir, "to.db"), "sqlite:" + filepath.Join(dir, "to.db"), "the source and the target are the same store"},
		{"sqlite:" + filepath.Join(dir, "to.db"), "sqlite:" + filepath.Join(dir, "link.db"), "the source and the target are the same store: both reach one SQLite file"},
		{filepath.Join(dir, "missing.yaml"), "sqlite:" + filepath.Join(dir, "to.db"), "--from: read config file"},
		{"sqlite:" + filepath.Join(dir, "to.db"), memoryConfig, "the memory store keeps nothing between runs"},
	} {
		same := strings.Contains(c.want, "same")
		if same {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "to.db"), nil, 0o600))
			_ = os.Symlink("to.db", filepath.Join(dir, "link.db"))
		}
		_, err := runCLI(t, "store", "copy", "--from", c.from, "--to", c.to, "--tenant", tenant)
		require.Error(t, err)
		assert.Contains(t, err.Error(), c.want)
		var coded *exitError
		assert.Equal(t, same, errors.As(err, &coded) && coded.ExitCode() == 2, "exit status 2 for %s", c.want)
	}
	_, err := os.Stat(filepath.Join(dir, "missing.db"))
	assert.True(t, os.IsNotExist(err), "no source file was made")
}

func exportBundle(t *testing.T, core *bootstrap.Core, tenant, agentID string) string {
	t.Helper()
	p, err := core.Admin.ExportBundle(t.Context(), tenant, agentID, application.ViewerAdmin)
	require.NoError(t, err)
	return jsonText(t, p)
}

func turnsOf(t *testing.T, core *bootstrap.Core, tenant, sessionID string) []string {
	t.Helper()
	p, err := core.Conversations.Turns(t.Context(), tenant, sessionID, ports.TurnQuery{Order: ports.OrderAsc})
	require.NoError(t, err)
	require.NotEmpty(t, p.Items)
	require.NotEmpty(t, p.Items[0].Explanation.Candidates, "the first turn records why the agent answered as it did")
	var out []string
	for _, turn := range p.Items {
		out = append(out, jsonText(t, turn))
	}
	return out
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// An agent the target has of its own under the same id is not
// overwritten: the command names it and fails, having copied the rest.
func TestStoreCopyNamesWhatItLeftAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	from, to := filepath.Join(dir, "from.db"), filepath.Join(dir, "to.db")
	tenant := uuid.NewString()
	demo, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	own := strings.Replace(string(demo), "\nrules:\n", "\nrules:\n  - {id: gift_wrap, condition: gift wrapping, action: Offer gift wrapping.}\n", 1)
	require.NotEqual(t, string(demo), own)
	var agentID string
	for path, bundle := range map[string][]byte{to: []byte(own), from: demo} {
		core := startSQLiteCore(t, path)
		imported, err := core.Admin.ImportBundle(ctx, application.BundleImport{TenantID: tenant, Bundle: bundle})
		require.NoError(t, err)
		agentID = imported.Policy.Agent.ID
		require.NoError(t, core.Stop(ctx))
	}
	out, err := runCLI(t, "store", "copy", "--from", "sqlite:"+from, "--to", "sqlite:"+to, "--tenant", tenant)
	require.Error(t, err, out)
	assert.Equal(t, "1 item not copied", err.Error())
	assert.Contains(t, out, "  not copied: agent "+agentID+": the target's version 1 is not the source's; not copied\n")
}

// --all-tenants copies every tenant the source holds data for, without
// naming one (docs/operations.md, "Moving to another store").
func TestStoreCopyAllTenants(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	from, to := filepath.Join(dir, "from.db"), filepath.Join(dir, "to.db")
	demo, err := os.ReadFile(filepath.Join(repo, "examples", "demo-agent.yaml"))
	require.NoError(t, err)
	tenants := []string{uuid.NewString(), uuid.NewString()}
	slices.Sort(tenants)

	src := startSQLiteCore(t, from)
	agents := map[string]string{}
	for _, tenant := range tenants {
		imported, err := src.Admin.ImportBundle(ctx, application.BundleImport{TenantID: tenant, Bundle: demo})
		require.NoError(t, err)
		agents[tenant] = imported.Policy.Agent.ID
	}
	_, err = src.Chat.Chat(ctx, application.ChatCommand{TenantID: tenants[1], AgentID: agents[tenants[1]], Channel: "web", UserChannelID: "ann", Message: "hello"})
	require.NoError(t, err)
	want := map[string]string{}
	for _, tenant := range tenants {
		want[tenant] = exportBundle(t, src, tenant, agents[tenant])
	}
	require.NoError(t, src.Stop(ctx))

	out, err := runCLI(t, "store", "copy", "--from", "sqlite:"+from, "--to", "sqlite:"+to, "--all-tenants")
	require.NoError(t, err, out)
	assert.Equal(t, "tenant "+tenants[0]+": copied 1 agent (1 version), 0 sessions (0 turns), 0 model keys, 0 budgets; 0 already there\n"+
		"tenant "+tenants[1]+": copied 1 agent (1 version), 1 session (1 turn), 0 model keys, 0 budgets; 0 already there\n", out)

	dst := startSQLiteCore(t, to)
	for _, tenant := range tenants {
		assert.Equal(t, want[tenant], exportBundle(t, dst, tenant, agents[tenant]), "tenant %s's agent", tenant)
	}
	require.NoError(t, dst.Stop(ctx))
}

// The tenants to copy are named, or all copied: both, or neither, is
// refused before either store is opened.
func TestStoreCopyNeedsTenantsNamedOrAll(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "from.db"), filepath.Join(dir, "to.db")
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--tenant", uuid.NewString(), "--all-tenants"}, "--tenant and --all-tenants exclude each other: name the tenants to copy, or copy them all"},
		{nil, "name the tenants to copy with --tenant ID (repeat for more), or copy every one with --all-tenants"},
	} {
		_, err := runCLI(t, append([]string{"store", "copy", "--from", "sqlite:" + from, "--to", "sqlite:" + to}, c.flags...)...)
		require.Error(t, err, c.flags)
		assert.Equal(t, c.want, err.Error(), c.flags)
	}
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries, "no store was opened")
}
