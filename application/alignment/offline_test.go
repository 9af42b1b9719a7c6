package alignment

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"focal/domain"
	"focal/ports"
)

// offlineModel says it never generates (ports.OfflineModel): the engine
// must build it no request, so a call fails the test.
type offlineModel struct{ t *testing.T }

func (m offlineModel) StreamChat(context.Context, ports.ChatRequest, func(string) error) (ports.ChatResult, error) {
	m.t.Error("a model that says it is offline was sent a request")
	return ports.ChatResult{}, ports.ErrOffline
}

func (offlineModel) Offline() bool { return true }

// A model that says it is offline gets no prompt, and the turn answers
// exactly as when the model is called and answers ErrOffline.
func TestAnOfflineModelGetsNoPromptAndTheSameAnswer(t *testing.T) {
	for name, templates := range map[string][]domain.Template{
		"suggested template": {tpl("s", domain.ModeSuggest, "Suggested for {agent_name}."), tpl("f", domain.ModeFallback, "Fallback.")},
		"fallback template":  {tpl("f", domain.ModeFallback, "Fallback.")},
		"refusal":            nil,
	} {
		t.Run(name, func(t *testing.T) {
			rule := globalRule("ship", "shipping", "Talk shipping.")
			if templates != nil && templates[0].ID == "s" {
				rule.TemplateIDs = []string{"s"}
			}
			p := testPolicy(rule)
			p.Templates = templates
			called := newFakeModel(fail(ports.ErrOffline))
			want := newHarness(t, p, called).run("shipping")
			got := newHarness(t, p, called, func(d *Deps) { d.Model = offlineModel{t} }).run("shipping")

			assert.Equal(t, want.Response, got.Response)
			assert.Equal(t, want.exp().Generation, got.exp().Generation)
			assert.Equal(t, want.exp().Enforcement, got.exp().Enforcement)
			assert.Equal(t, want.exp().Matched, got.exp().Matched)
			assert.Equal(t, 1, called.calls(), "the model that does not say is called")
		})
	}
}
