package bootstrap

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// operations.md's takeover delays and shutdown: the use case is given a
// 15 s lease (renewed every third of it: TestRenewalsRunOnTheClock), at
// most 10,000 releases wait for the store, and a drained shutdown waits up
// to 15 s more for ended requests to give their leases up.
func TestOperationsDocStatesTheTakeoverBounds(t *testing.T) {
	assert.Equal(t, 15*time.Second, ChatConfig{}.application().LeaseTTL)
	assert.Equal(t, 10_000, maxPendingReleases)
	assert.Equal(t, 15*time.Second, afterDrain)
}
