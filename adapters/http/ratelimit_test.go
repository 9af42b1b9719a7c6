package httpapi

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A tenant takes up to max at once, and again as it releases; a tenant
// holding nothing has no entry; tenants count apart.
func TestTenantCounterCapsEachTenantAndForgetsIdleOnes(t *testing.T) {
	c := &tenantCounter{open: map[string]int{}}
	for range 3 {
		require.True(t, c.take("a", 3))
	}
	require.False(t, c.take("a", 3), "a holds 3 already")
	require.True(t, c.take("b", 3), "b counts apart")
	require.Equal(t, map[string]int{"a": 3, "b": 1}, c.open)
	c.release("a")
	require.True(t, c.take("a", 3), "a released one")
	for range 3 {
		c.release("a")
	}
	c.release("b")
	require.Empty(t, c.open, "tenants holding nothing have no entry")
	require.True(t, c.take("a", 1))
	require.False(t, c.take("a", 1))
}
