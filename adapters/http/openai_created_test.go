package httpapi

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
)

// A completion states the second its turn was made, read from the turn id,
// so the first answer and every replay agree whenever they are sent.
func TestCompletionCreatedIsTheTurnsTime(t *testing.T) {
	id := uuid.Must(uuid.NewV7FromReader(zeroReader{}))
	got := completionCreated(id.String(), 42)
	assert.InDelta(t, time.Now().Unix(), got, 2, "a UUIDv7 turn id gives its own second")
	assert.Equal(t, got, completionCreated(id.String(), 7), "the same for every answer")
	assert.Equal(t, int64(42), completionCreated("not-a-uuid", 42))
	assert.Equal(t, int64(42), completionCreated(uuid.NewString(), 42), "a v4 id carries no time")
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
