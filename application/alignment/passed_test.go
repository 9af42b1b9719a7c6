package alignment

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"focal/domain"
)

// passesAll is the reference: text breaks none of constraints.
func passesAll(constraints []domain.CheckedConstraint, text string) bool {
	checked := domain.NewCheckedText(text)
	for _, c := range constraints {
		if c.CheckLexicalIn(checked) != "" {
			return false
		}
	}
	return true
}

func prepared(t *testing.T, cs ...domain.Constraint) []domain.CheckedConstraint {
	t.Helper()
	out := make([]domain.CheckedConstraint, len(cs))
	for i, c := range cs {
		var err error
		out[i], err = domain.PrepareConstraint("r", c)
		require.NoError(t, err)
	}
	return out
}

// A text is known to pass only the very list it passed (not a copy, not
// a shorter or longer list from the same start), only when that list is
// lexical, and never wrongly: over many generated lists and texts, known
// agrees with checking them.
func TestPassedTextsAgreeWithTheCheck(t *testing.T) {
	all := prepared(t, forbid("free money"),
		domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `\b\d{16}\b`},
		domain.Constraint{Kind: domain.ConstraintRequirePhrase, Value: "help"},
		domain.Constraint{Kind: domain.ConstraintExpression, Value: `reply != ""`})
	lists := [][]domain.CheckedConstraint{all[0:1], all[0:2], all[0:3], all[1:3], slices.Clone(all[0:2]), all[2:3], all, all[3:], nil}
	texts := []string{"We can help.", "Free money, we help!", "Card 1234567812345678 help", "Hello.", "", "help free  money"}
	var p passedTexts
	rng := rand.New(rand.NewPCG(3, 5))
	hits := 0
	for range 5000 {
		list, text := lists[rng.IntN(len(lists))], texts[rng.IntN(len(texts))]
		if p.known(list, text) {
			hits++
			require.True(t, passesAll(list, text), "known to pass %q", text)
			for _, c := range list {
				require.NotEqual(t, domain.ConstraintExpression, c.Constraint.Kind, "an expression's verdict is not the text's alone")
			}
			continue
		}
		if passesAll(list, text) {
			p.remember(list, text)
		}
	}
	assert.Positive(t, hits)

	p.remember(all[0:2], "We can help.")
	assert.True(t, p.known(all[0:2], "We can help."))
	assert.False(t, p.known(slices.Clone(all[0:2]), "We can help."), "an equal list is another list")
	assert.False(t, p.known(all[0:1], "We can help."))
	assert.False(t, p.known(all[0:2], "We can help!"))
	p.remember(all, "We can help.")
	assert.True(t, p.known(all[0:2], "We can help."), "a list with an expression is not remembered")
}

// An offline agent's replies under a global hard rule, turn after turn
// on one engine (its texts remembered after the first), are recorded as
// each turn's on an engine of its own: the same reply, generation and
// enforcement, a text that breaks the rule refused every time (and a
// refusal that breaks it, nothing said).
func TestRememberedTextsAnswerAsChecked(t *testing.T) {
	guard := hardRule("guard", "unrelated condition", forbid("free money"),
		domain.Constraint{Kind: domain.ConstraintForbidPattern, Value: `\b\d{16}\b`})
	for name, templates := range map[string][]domain.Template{
		"suggested":       {tpl("s", domain.ModeSuggest, "Suggested for {agent_name}."), tpl("f", domain.ModeFallback, "Fallback.")},
		"fallback":        {tpl("f", domain.ModeFallback, "Fallback.")},
		"broken fallback": {tpl("f", domain.ModeFallback, "Free money for you!")},
		"refusal":         nil,
		"broken refusal":  {},
	} {
		t.Run(name, func(t *testing.T) {
			ship := globalRule("ship", "shipping", "Talk shipping.")
			if len(templates) > 0 && templates[0].ID == "s" {
				ship.TemplateIDs = []string{"s"}
			}
			p := testPolicy(ship, guard)
			p.Templates = templates
			if name == "broken refusal" {
				p.Agent.Settings.RefusalMessage = "No free money here."
			}
			offline := func(d *Deps) { d.Model = offlineModel{t} }
			h := newHarness(t, p, nil, offline)
			var response string
			for turn := range 3 {
				want := newHarness(t, p, nil, offline).run("shipping")
				got := h.run("shipping")
				assert.Equal(t, want.Response, got.Response, "turn %d", turn)
				assert.Equal(t, want.deltas, got.deltas, "turn %d", turn)
				assert.Equal(t, want.exp().Generation, got.exp().Generation, "turn %d", turn)
				assert.Equal(t, want.exp().Enforcement, got.exp().Enforcement, "turn %d", turn)
				response = got.Response
			}
			if name != "broken refusal" {
				remembered := h.engine.passed.slot(response).Load()
				require.NotNil(t, remembered, "what passed (the refusal, when the fallback breaks the rule) is remembered")
				assert.Equal(t, response, remembered.text)
			}
		})
	}
}
