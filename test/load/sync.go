package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/google/pprof/profile"

	"focal/bootstrap"
)

// syncConfig is one measured configuration of POST /v1/chat.
type syncConfig struct {
	workload string // new, returning or mix
	rules    int
	conns    int
	// again marks a configuration measured a second time on its process,
	// after the ones before it in syncConfigs: a row to read, never a
	// target's (see report.pair).
	again bool
}

// syncConfigs are the configurations measured on the memory store with the
// offline model (no model time: what is measured is Focal's own work), in
// the order they run on one Focal process per rule count.
//
// The one-client runs come first, right after seeding: a configuration's
// figures are then those of its workload (returning users with their
// historyTurns turns), not of what the runs before it left. Three
// 32-connection configurations leave hundreds of turns on each returning
// user and 200,000 sessions besides, under the default retention: a live
// heap of 1 GiB or more, which a collection marks for 200-540 ms. There
// one-client runs read a p99 of 1.9-2.2 ms when no collection fell in
// them and 3.8-4.4 ms when one did, while Focal's own request histogram
// counted 1-5 requests in 14,000-24,000 over 1 ms: the tail was outside
// the handlers (fresh, the same runs read 0.5-0.7 ms, see
// docs/benchmarks.md). So the one-client runs at 100 rules are
// measured again at the end, and the report shows them as their own row,
// beside the state each row began on (see processState).
var syncConfigs = []syncConfig{
	{workload: "mix", rules: 100, conns: 1}, {workload: "mix", rules: 100, conns: 32},
	{workload: "returning", rules: 100, conns: 32}, {workload: "new", rules: 100, conns: 32},
	{workload: "mix", rules: 100, conns: 1, again: true},
	{workload: "mix", rules: 10000, conns: 1}, {workload: "mix", rules: 10000, conns: 32},
}

// ruleCounts are the rule counts of configs in the order they first
// appear: one Focal process serves each.
func ruleCounts(configs []syncConfig) []int {
	var counts []int
	for _, c := range configs {
		if !slices.Contains(counts, c.rules) {
			counts = append(counts, c.rules)
		}
	}
	return counts
}

// historyTurns is how many turns each returning user has before the runs.
const historyTurns = 10

// syncScenarios measures every configuration in alternating pairs: a Focal
// run, then a bare gin run with the same script, connections and length,
// so each pair saw the same machine load. One Focal run per configuration
// is CPU-profiled.
func (b *bench) syncScenarios() error {
	var gin *exec.Cmd
	var ginURL string
	defer func() {
		if gin != nil {
			b.stop(gin)
		}
	}()
	for _, rules := range ruleCounts(syncConfigs) {
		bundle, err := b.bundleFile(rules)
		if err != nil {
			return err
		}
		f, err := b.focal(bundle)
		if err != nil {
			return err
		}
		if gin == nil {
			// The ceiling applies Focal's runtime settings from the same
			// environment (bootstrap.RuntimeFromEnv): both collect alike.
			if gin, ginURL, err = b.bareGin(); err != nil {
				b.stop(f.cmd)
				return err
			}
		}
		if err := b.seed(f.url, ginURL, rules); err != nil {
			b.stop(f.cmd)
			return err
		}
		client := newChatClient(f.url, token())
		returning, err := client.returningSessions()
		if err != nil {
			b.stop(f.cmd)
			return fmt.Errorf("listing the returning users' sessions: %w", err)
		}
		for _, c := range syncConfigs {
			if c.rules != rules {
				continue
			}
			start := readProcessState(client, returning)
			row, err := b.measurePairs(c, f, gin.Process.Pid, ginURL)
			if err != nil {
				b.stop(f.cmd)
				return err
			}
			row.start = start
			b.report.addPair(row)
		}
		b.stop(f.cmd)
	}
	return nil
}

// processState is what a Focal process held when a configuration's runs
// began: its returning users' mean turn count, read through the API, and
// the heap its last collection found live (collected says there was one:
// a process starts with 128 MiB of headroom, see bootstrap/gc_headroom.go).
type processState struct {
	turns, liveMiB float64
	collected      bool
	err            error
}

// readProcessState reads the returning users' sessions ids through c, and
// Focal's live heap.
func readProcessState(c *chatClient, ids []string) processState {
	sizes, err := c.sessionSizes(ids)
	if err == nil && len(sizes) < len(ids) {
		err = fmt.Errorf("%d of %d returning users' sessions read", len(sizes), len(ids))
	}
	if err != nil {
		return processState{err: err}
	}
	live, err := gauge(c.base, "go_gc_heap_live_bytes")
	cycles, cyclesErr := gauge(c.base, "go_gc_duration_seconds_count")
	turns, _, _ := means(sizes)
	return processState{turns: turns, liveMiB: live / (1 << 20), collected: cycles > 0, err: errors.Join(err, cyclesErr)}
}

// measurePairs runs b.runs Focal / bare gin pairs of one configuration,
// reading each server's CPU time around its runs (ginPID is bare gin's
// process). A configuration with latency targets goes on until b.runs
// pairs are valid for each of its targets or 2×b.runs were tried: a run
// the host's stalls alone set beyond a target's limit is thrown out for
// it (see latencyTarget.hostOut), as the streaming section throws out
// runs where the host woke the model late.
func (b *bench) measurePairs(c syncConfig, f *focalProc, ginPID int, ginURL string) (pairRow, error) {
	row := pairRow{config: c}
	spec := wrkSpec{conns: c.conns, duration: b.duration, mode: c.workload, users: b.users, messageFile: b.messages}
	for i := 0; row.wantsMore(b.runs); i++ {
		spec.url, spec.serverPID = f.url, f.cmd.Process.Pid
		var prof chan profileResult
		var profileRun func()
		if i == b.runs/2 {
			prof = make(chan profileResult, 1)
			profileRun = func() {
				go func() {
					p, err := cpuProfile(f.debug, b.duration-time.Second)
					if err == nil && b.profiles != "" {
						err = keepProfiles(b.profiles, c.label(), f.debug, p)
					}
					prof <- profileResult{p, err}
				}()
			}
		}
		focal, err := b.quietRun(spec, f.url, profileRun)
		if err != nil {
			return row, err
		}
		if prof != nil {
			if r := <-prof; r.err == nil {
				s := summarise(r.p, 8)
				row.profile = &s
			} else {
				b.report.notes = append(b.report.notes, fmt.Sprintf("CPU profile of %s failed: %v", c.label(), r.err))
			}
		}
		spec.url, spec.serverPID = ginURL, ginPID
		gin, err := b.quietRun(spec, f.url, nil)
		if err != nil {
			return row, err
		}
		row.focal, row.gin = append(row.focal, focal), append(row.gin, gin)
	}
	return row, nil
}

// quietRun waits until the Focal at focalURL has packed what its runs
// left (see packedWait), then for a quiet machine (see quietWindow),
// calls started when set, and runs spec, with the host-stall probe
// around it when it is one client's.
func (b *bench) quietRun(spec wrkSpec, focalURL string, started func()) (loadRun, error) {
	packed, ok, err := packedWait(func() (float64, error) { return gauge(focalURL, packBacklogMetric) }, time.Sleep)
	if err != nil {
		return loadRun{}, fmt.Errorf("waiting for Focal to pack its idle sessions: %w", err)
	}
	settled, err := machineQuiet.wait()
	if err != nil {
		return loadRun{}, fmt.Errorf("waiting for a quiet machine: %w", err)
	}
	settled.packed, settled.waited, settled.quiet = packed, packed+settled.waited, settled.quiet && ok
	run := func() (loadRun, error) {
		if started != nil {
			started()
		}
		return b.wrk.run(spec)
	}
	if spec.conns == 1 {
		// One client's latency is what a stall of the host shows in most
		// (see hoststalls.go): the probe measures the host beside it.
		plain := run
		run = func() (loadRun, error) { return b.probedRun(plain) }
	}
	r, err := run()
	r.Settled = settled
	return r, err
}

type profileResult struct {
	p   *profile.Profile
	err error
}

// seed gives the returning users of Focal at focalURL their history and
// records how many the scenario holds, and, before the first pairs, how
// both sides collect garbage.
func (b *bench) seed(focalURL, ginURL string, rules int) error {
	c := newChatClient(focalURL, token())
	active, how, err := b.seedUsers(c, rules)
	if err != nil {
		return fmt.Errorf("seeding %d returning users (%d rules): %w", b.users, rules, err)
	}
	b.report.seeded = append(b.report.seeded, seeding{rules: rules, users: b.users, inScenario: active, openings: how})
	if b.report.gc == nil {
		return b.readCollectors(focalURL, ginURL)
	}
	return nil
}

// seedRules is the rule count the returning users' history is written
// under when no phrasing starts the scenario at the count measured.
const seedRules = 100

// seedUsers writes the returning users' history through c, under the
// policy of rules rules Focal serves, and answers how many the scenario
// holds and how their openings were chosen.
//
// When no real phrasing starts the scenario at that many rules, as the
// engine decides in process, the history is written under the agent's
// policy of seedRules rules instead, published through the API, and the
// policy of rules rules published back before the load: returning users
// are then in the scenario they claim to be in, as users who were in one
// when their agent's policy changed, and every turn measured is still
// scored against every one of the rules. The report says so, beside
// how many phrasings start the scenario at that count: a scenario no
// message can start is the engine's to answer for, not the bench's to
// hide.
func (b *bench) seedUsers(c *chatClient, rules int) (active int, how string, err error) {
	openings, err := b.openings(rules)
	if err != nil {
		return 0, "", err
	}
	if openings.starting > 0 || rules == seedRules {
		active, err = seedReturningUsers(c, b.phrases, openings.messages, b.users, historyTurns)
		return active, openings.text(), err
	}
	under, err := b.openings(seedRules)
	if err != nil {
		return 0, "", err
	}
	if err := b.publishFile(c, seedRules); err != nil {
		return 0, "", err
	}
	// Sessions change only by their own turns: the count read back after
	// seeding holds when the load begins.
	if active, err = seedReturningUsers(c, b.phrases, under.messages, b.users, historyTurns); err != nil {
		return 0, "", err
	}
	if err := b.publishFile(c, rules); err != nil {
		return 0, "", err
	}
	// A new user's turn compiles the policy published, which the load's
	// first run would otherwise wait for.
	if _, err := c.chat("seed-warm", b.phrases.messages()[0]); err != nil {
		return 0, "", err
	}
	return active, fmt.Sprintf("%s, so seeded under the %d-rule policy with the %d phrasings of %d that start it there, then the %d-rule policy published through the API",
		openings.text(), seedRules, under.starting, under.tried, rules), nil
}

// publishFile publishes the bench agent with n rules, the bundle Focal
// was started with at that count, through the API.
func (b *bench) publishFile(c *chatClient, n int) error {
	path, err := b.bundleFile(n)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// Compact: 10,000 rules indented come near the API's body limit.
	var body bytes.Buffer
	if err := json.Compact(&body, data); err != nil {
		return err
	}
	_, err = c.putBundle(body.Bytes())
	return err
}

// readCollectors records the collector settings both sides applied and
// the percent each side's collector is at now (go_gc_gogc_percent, which
// the headroom moves with the kept heap): called once the pairs are about
// to begin, with Focal's returning users seeded.
func (b *bench) readCollectors(focalURL, ginURL string) error {
	rc, err := bootstrap.RuntimeFromEnv()
	if err != nil {
		return err
	}
	gc := gcSettings{headroom: rc.GCHeadroom, floor: rc.GCPercent,
		focal: int(counter(focalURL, "go_gc_gogc_percent")), gin: int(counter(ginURL, "go_gc_gogc_percent"))}
	if gc.focal <= 0 || gc.gin <= 0 {
		return fmt.Errorf("focal (%s) or bare gin (%s) reports no go_gc_gogc_percent on /metrics", focalURL, ginURL)
	}
	b.report.gc = &gc
	return nil
}
