package observe

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"focal/adapters/llm"
	"focal/ports"
)

// The observed model says it is offline exactly when the model it wraps
// does, so the engine builds the offline model no request through it.
func TestChatModelIsOfflineWhenItsModelIs(t *testing.T) {
	m, _ := newObserved(t)
	assert.True(t, ports.IsOffline(m.ChatModel(llm.Offline{}, "offline", "none")))
	assert.False(t, ports.IsOffline(m.ChatModel(&fakeModel{err: ports.ErrOffline}, "offline", "none")),
		"a model that does not say is called")
	assert.False(t, ports.IsOffline(m.ChatModel(&fakeModel{}, "openai", "gpt")))
}
