package ports

import (
	"context"
	"errors"
	"testing"
)

type otherKey struct{}

// TestWithTenantIsWithValue checks WithTenant against the
// context.WithValue it stands for: the innermost tenant wins, other values
// and cancellation pass through, a context without one has "".
func TestWithTenantIsWithValue(t *testing.T) {
	parent, cancel := context.WithCancelCause(context.WithValue(context.Background(), otherKey{}, "other"))
	outer := WithTenant(parent, "tenant-a")
	inner := WithTenant(context.WithValue(outer, otherKey{}, "shadowed"), "tenant-b")
	for _, c := range []struct {
		ctx           context.Context
		tenant, other string
	}{
		{parent, "", "other"},
		{outer, "tenant-a", "other"},
		{inner, "tenant-b", "shadowed"},
		{WithTenant(context.Background(), ""), "", ""},
		{context.WithoutCancel(inner), "tenant-b", "shadowed"},
	} {
		if got := TenantOf(c.ctx); got != c.tenant {
			t.Errorf("TenantOf = %q, want %q", got, c.tenant)
		}
		if got, _ := c.ctx.Value(otherKey{}).(string); got != c.other {
			t.Errorf("other value = %q, want %q", got, c.other)
		}
	}
	cause := errors.New("stopped")
	cancel(cause)
	if inner.Err() == nil || !errors.Is(context.Cause(inner), cause) {
		t.Fatalf("cancellation did not pass through: %v, %v", inner.Err(), context.Cause(inner))
	}
}
