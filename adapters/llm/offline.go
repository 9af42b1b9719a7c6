// Package llm holds the ChatModel and Embedder adapters: OpenAI-compatible
// servers and Anthropic through their official SDKs, the offline model, and
// the resilience decorator that wraps any of them.
package llm

import (
	"context"

	"focal/ports"
)

// Offline is the model used when none is configured: it generates nothing,
// so the engine answers from the agent's templates.
type Offline struct{}

var (
	_ Chat               = Offline{}
	_ ports.OfflineModel = Offline{}
)

// StreamChat implements ports.ChatModel; it always returns ports.ErrOffline.
func (Offline) StreamChat(context.Context, ports.ChatRequest, func(string) error) (ports.ChatResult, error) {
	return ports.ChatResult{}, ports.ErrOffline
}

// Offline implements ports.OfflineModel: the offline model never
// generates, so callers build it no request.
func (Offline) Offline() bool { return true }

// Ready implements ports.ReadinessChecker: the offline model never fails.
func (Offline) Ready(context.Context) error { return nil }
