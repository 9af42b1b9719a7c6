package httpapi

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// A request id made here is a random UUID as uuid.NewString makes it:
// version 4, RFC 9562 variant, in its canonical text, and new each time.
func TestNewRequestIDIsARandomUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		u, err := uuid.Parse(id)
		require.NoError(t, err)
		require.Equal(t, uuid.Version(4), u.Version())
		require.Equal(t, uuid.RFC4122, u.Variant())
		require.Equal(t, u.String(), id)
		require.True(t, saneRequestID.MatchString(id))
		require.False(t, seen[id], "ids repeat")
		seen[id] = true
	}
}
