package domain_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"focal/domain"
)

func TestParseTemplate(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		vars    []string
		literal string // rendered with no variables set
		err     string
	}{
		{"plain text", "Hello there", nil, "Hello there", ""},
		{"placeholders in order", "Hi {name}, order {order.id} ships {ship_date}.", []string{"name", "order.id", "ship_date"}, "Hi , order  ships .", ""},
		{"repeated placeholder", "{a}{a}", []string{"a", "a"}, "", ""},
		{"escaped braces", "Use {{braces}} like }} this", nil, "Use {braces} like } this", ""},
		{"escape next to placeholder", "{{{name}}}", []string{"name"}, "{}", ""},
		{"multi-byte text around placeholder", "Grüße, {name} — bis bald €", []string{"name"}, "Grüße,  — bis bald €", ""},
		{"underscore start", "{_x1}", []string{"_x1"}, "", ""},
		{"unclosed placeholder", "Hello {name", nil, "", "unclosed placeholder at byte 6"},
		{"empty placeholder", "Hello {}", nil, "", "invalid placeholder {}"},
		{"space in placeholder", "Hello {first name}", nil, "", "invalid placeholder {first name}"},
		{"digit first", "{1st}", nil, "", "invalid placeholder {1st}"},
		{"dot first", "{.x}", nil, "", "invalid placeholder {.x}"},
		{"dash in name", "{first-name}", nil, "", "invalid placeholder {first-name}"},
		{"65-character name", "{" + strings.Repeat("a", 65) + "}", nil, "", "invalid placeholder"},
		{"unmatched closing brace", "Hello }", nil, "", "unmatched '}'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := domain.ParseTemplate(tt.text)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.vars, pt.Variables())
			got, _ := pt.Render(nil)
			require.Equal(t, tt.literal, got)
		})
	}
}

func TestParseTemplateAcceptsA64CharacterName(t *testing.T) {
	name := "a123456789012345678901234567890123456789012345678901234567890123"
	require.Len(t, name, 64)
	pt, err := domain.ParseTemplate("{" + name + "}")
	require.NoError(t, err)
	require.Equal(t, []string{name}, pt.Variables())
}

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		vars    map[string]any
		want    string
		missing []string
	}{
		{"strings", "Hi {name}!", map[string]any{"name": "Ana"}, "Hi Ana!", nil},
		{"missing renders empty and is reported", "Hi {name}, total {total}.", map[string]any{"name": "Ana"}, "Hi Ana, total .", []string{"total"}},
		{"nil counts as missing", "Hi {name}.", map[string]any{"name": nil}, "Hi .", []string{"name"}},
		{"every missing occurrence reported", "{a}-{b}-{a}", nil, "--", []string{"a", "b", "a"}},
		{"large float without exponent", "{n}", map[string]any{"n": 1e21}, "1000000000000000000000", nil},
		{"small float without exponent", "{n}", map[string]any{"n": 0.000001}, "0.000001", nil},
		{"float keeps decimals", "${n}", map[string]any{"n": 12.5}, "$12.5", nil},
		{"whole float has no decimals", "{n}", map[string]any{"n": 30.0}, "30", nil},
		{"float32", "{n}", map[string]any{"n": float32(0.1)}, "0.1", nil},
		{"int", "{n}", map[string]any{"n": 42}, "42", nil},
		{"int64", "{n}", map[string]any{"n": int64(-7)}, "-7", nil},
		{"bool", "{ok}/{no}", map[string]any{"ok": true, "no": false}, "true/false", nil},
		{"other types via fmt", "{n}", map[string]any{"n": uint8(3)}, "3", nil},
		{"dotted name is a flat key", "{order.id}", map[string]any{"order.id": "A1"}, "A1", nil},
		{"escapes survive rendering", "{{{x}}}", map[string]any{"x": "v"}, "{v}", nil},
		{"dotted name reads nested maps", "{meta.tier}/{order.id}", map[string]any{"meta": map[string]any{"tier": "gold"}, "order": map[string]any{"id": "A1"}}, "gold/A1", nil},
		// agent-bundle.md (Templates): {meta.customer.tier} goes through two maps, meta and customer.
		{"dotted name reads two levels down", "{meta.customer.tier}", map[string]any{"meta": map[string]any{"customer": map[string]any{"tier": "gold"}}}, "gold", nil},
		{"a path through a non-map is missing", "{order.id}", map[string]any{"order": "A1"}, "", []string{"order.id"}},
		{"own default when unset", "Hi {name|there}, {order_id|your order} ships.", map[string]any{"name": nil}, "Hi there, your order ships.", nil},
		{"own default unused when set", "Hi {name|there}!", map[string]any{"name": "Ana"}, "Hi Ana!", nil},
		{"empty own default", "Hi{name|}!", nil, "Hi!", nil},
		{"own default keeps punctuation", "{meta.first_name|dear customer: welcome}", nil, "dear customer: welcome", nil},
		{"amount with currency", "{refund}", map[string]any{"refund": map[string]any{"value": 12.5, "currency": "EUR"}}, "12.5 EUR", nil},
		{"amount without currency", "{refund}", map[string]any{"refund": map[string]any{"value": 30.0}}, "30", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := domain.ParseTemplate(tt.text)
			require.NoError(t, err)
			got, missing := pt.Render(tt.vars)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.missing, missing)
		})
	}
}

func TestParseTemplatePlaceholderDefaults(t *testing.T) {
	pt, err := domain.ParseTemplate("Hi {name|there}, {order_id}, {x|}")
	require.NoError(t, err)
	require.Equal(t, []domain.Placeholder{
		{Name: "name", Default: "there", HasDefault: true},
		{Name: "order_id"},
		{Name: "x", HasDefault: true},
	}, pt.Placeholders())
	require.Equal(t, []string{"name", "order_id", "x"}, pt.Variables())
	_, err = domain.ParseTemplate("{bad name|x}")
	require.ErrorContains(t, err, "invalid placeholder {bad name}")
	_, err = domain.ParseTemplate("{name|a{b}")
	require.ErrorContains(t, err, "may not contain braces")
}

// A template never shows a blank: an unset placeholder without a default
// of its own makes the template's default text the reply, and without one
// the caller is told the text is incomplete.
func TestTemplateRendererFallsBackToTheDefaultText(t *testing.T) {
	withDefault, err := domain.NewTemplateRenderer(domain.Template{
		Text:    "Your {item_name} ({order_id}) goes back, {meta.first_name|thanks}.",
		Default: "Your return is registered, {meta.first_name|thanks}.",
	})
	require.NoError(t, err)
	text, missing, complete := withDefault.Render(map[string]any{"item_name": "Parka", "order_id": "AC-123456"})
	require.Equal(t, "Your Parka (AC-123456) goes back, thanks.", text)
	require.Empty(t, missing)
	require.True(t, complete)

	text, missing, complete = withDefault.Render(map[string]any{"order_id": "AC-123456", "meta": map[string]any{"first_name": "Ana"}})
	require.Equal(t, "Your return is registered, Ana.", text)
	require.Equal(t, []string{"item_name"}, missing)
	require.True(t, complete)

	without, err := domain.NewTemplateRenderer(domain.Template{Text: "Your {item_name} goes back."})
	require.NoError(t, err)
	text, missing, complete = without.Render(nil)
	require.Equal(t, "Your  goes back.", text)
	require.Equal(t, []string{"item_name"}, missing)
	require.False(t, complete, "the caller must say something else")

	_, err = domain.NewTemplateRenderer(domain.Template{Text: "x", Default: "{oops"})
	require.ErrorContains(t, err, "default: unclosed placeholder")
}

// TestTemplateLiteralIsWhatRenderGives holds Literal, which spares a reply
// gathering the variables, to Render: over generated templates, one
// without placeholders is literal and its text is what Render gives with
// or without variables; one with placeholders is not literal.
func TestTemplateLiteralIsWhatRenderGives(t *testing.T) {
	pieces := []string{"Hello", " there", "{{", "}}", "{name}", "{name|friend}", "{meta.tier}", "é", "", "."}
	vars := map[string]any{"name": "Ann", "meta": map[string]any{"tier": "gold"}}
	rng := rand.New(rand.NewPCG(3, 4))
	literals := 0
	for range 2000 {
		var text strings.Builder
		for range rng.IntN(6) {
			text.WriteString(pieces[rng.IntN(len(pieces))])
		}
		tpl := domain.Template{ID: "t", Text: text.String()}
		if rng.IntN(2) == 0 {
			tpl.Default = "Sorry."
		}
		r, err := domain.NewTemplateRenderer(tpl)
		require.NoError(t, err, tpl.Text)
		literal, ok := r.Literal()
		parsed, err := domain.ParseTemplate(tpl.Text)
		require.NoError(t, err)
		require.Equal(t, len(parsed.Variables()) == 0, ok, tpl.Text)
		if !ok {
			continue
		}
		literals++
		for _, v := range []map[string]any{nil, vars} {
			text, missing, complete := r.Render(v)
			require.Equal(t, text, literal, tpl.Text)
			require.Empty(t, missing)
			require.True(t, complete)
		}
	}
	require.Greater(t, literals, 100)
}

// A template repeating a placeholder over a long value says at most
// MaxRenderedBytes: the 2,500 placeholders a 20,000-character template
// holds, over a 16 KB metadata value, made a 40 MB reply. What would pass
// the bound counts as missing, so the renderer says the default text.
func TestRenderedTextIsBounded(t *testing.T) {
	tmpl := domain.Template{ID: "t", Mode: domain.ModeExclusive, Text: strings.Repeat("{meta.a}", 2500), Default: "Sorry, that is too long to say."}
	r, err := domain.NewTemplateRenderer(tmpl)
	require.NoError(t, err)
	vars := map[string]any{"meta": map[string]any{"a": strings.Repeat("v", 16<<10)}}
	text, missing, complete := r.Render(vars)
	require.True(t, complete)
	require.Equal(t, "Sorry, that is too long to say.", text)
	require.Contains(t, missing, "meta.a")

	p, err := domain.ParseTemplate(tmpl.Text)
	require.NoError(t, err)
	text, _ = p.Render(vars)
	require.LessOrEqual(t, len(text), domain.MaxRenderedBytes)
	require.Greater(t, len(text), domain.MaxRenderedBytes-(16<<10), "values fit up to the bound")

	short := map[string]any{"meta": map[string]any{"a": "ok"}}
	text, missing, complete = r.Render(short)
	require.True(t, complete)
	require.Empty(t, missing)
	require.Equal(t, strings.Repeat("ok", 2500), text)
}
