package main

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeMachine is a machine whose busy time grows by the next step of its
// script at every poll, then by the last step for ever.
type fakeMachine struct {
	busy  time.Duration
	steps []time.Duration
	slept time.Duration
}

func (m *fakeMachine) waiter() quietWaiter {
	return quietWaiter{
		busy: func() (time.Duration, error) { return m.busy, nil },
		sleep: func(d time.Duration) {
			m.slept += d
			step := m.steps[0]
			if len(m.steps) > 1 {
				m.steps = m.steps[1:]
			}
			m.busy += step
		},
	}
}

func TestQuietWaitEndsAtTheFirstQuietWindow(t *testing.T) {
	perWindow := int(quietWindow / quietPoll)
	// Busy at half a core for 12 polls, then a trickle well under the
	// threshold: the wait ends once a whole window has passed since.
	steps := make([]time.Duration, 12)
	for i := range steps {
		steps[i] = quietPoll / 2
	}
	m := &fakeMachine{steps: append(steps, time.Millisecond)}
	s, err := m.waiter().wait()
	require.NoError(t, err)
	assert.True(t, s.quiet)
	assert.Equal(t, time.Duration(12+perWindow)*quietPoll, s.waited)
	assert.Equal(t, s.waited, m.slept, "the wait is the time it slept")
}

func TestQuietWaitNeedsAWholeQuietWindow(t *testing.T) {
	// Just over the threshold, spread over the window: never quiet.
	over := time.Duration(quietBusy*float64(quietWindow))/time.Duration(quietWindow/quietPoll) + time.Millisecond
	m := &fakeMachine{steps: []time.Duration{over}}
	s, err := m.waiter().wait()
	require.NoError(t, err)
	assert.False(t, s.quiet, "a machine busy just over the threshold is not quiet")
	assert.Equal(t, quietLimit, s.waited, "the wait gives up at the limit")

	// Just under it: quiet after the first whole window.
	under := over - 2*time.Millisecond
	m = &fakeMachine{steps: []time.Duration{under}}
	s, err = m.waiter().wait()
	require.NoError(t, err)
	assert.True(t, s.quiet)
	assert.Equal(t, quietWindow, s.waited)
}

func TestParseBusyLeavesOutIdleAndIOWait(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	d, err := parseBusy("cpu  100 1 50 9000 70 3 4 2 0 0")
	require.NoError(t, err)
	assert.Equal(t, 160*time.Second/clockTicks, d)
	_, err = parseBusy("cpu0 1 2 3 4 5 6 7 8")
	assert.Error(t, err, "only the all-cores line is read")
}

func TestSettlingTextCountsRunsBegunWithoutQuiet(t *testing.T) {
	c := syncConfig{workload: "mix", rules: 100, conns: 1}
	row := pairRow{config: c,
		focal: []loadRun{{Settled: settling{waited: 2 * time.Second, quiet: true}}, {Settled: settling{waited: quietLimit}}},
		gin: []loadRun{{Settled: settling{waited: 9 * time.Second, packed: 6 * time.Second, quiet: true}},
			{Settled: settling{waited: 2 * time.Second, packed: 4 * time.Second, quiet: true}}}}
	text := settlingText([]pairRow{row})
	assert.Contains(t, text, "1 of 4 runs began without quiet after 2m0s")
	assert.Contains(t, text, "120.0 s at the longest (before a Focal, "+c.label()+" run)")
	assert.Contains(t, text, "9.0 s at the median")
	assert.Contains(t, text, "6.0 s at the median before a bare gin run", "the packing part, bare gin's runs")

	row.focal[1].Settled = settling{waited: 5 * time.Second, quiet: true}
	text = settlingText([]pairRow{row})
	assert.False(t, strings.Contains(text, "without quiet"), text)
	assert.Empty(t, settlingText(nil))
}

// The wait for Focal's packing lasts until its backlog reads 0, polling;
// a backlog that never empties ends it at quietLimit, not quiet.
func TestPackedWaitLastsUntilNoSessionWaits(t *testing.T) {
	backlog := []float64{3000, 1200, 8, 0, 50}
	var slept time.Duration
	read := func() (float64, error) {
		n := backlog[0]
		backlog = backlog[1:]
		return n, nil
	}
	waited, ok, err := packedWait(read, func(d time.Duration) { slept += d })
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, 3*quietPoll, waited, "three polls saw sessions waiting")
	assert.Equal(t, waited, slept)

	waited, ok, err = packedWait(func() (float64, error) { return 1, nil }, func(time.Duration) {})
	require.NoError(t, err)
	assert.False(t, ok, "a backlog that never empties is not quiet")
	assert.Equal(t, quietLimit, waited)

	_, _, err = packedWait(func() (float64, error) { return 0, errors.New("no such metric") }, func(time.Duration) {})
	assert.Error(t, err, "a Focal that does not say is an error, not quiet")
}
