package fakellm

import (
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// Echo is the default Responder: "You said: <last user message>".
func Echo(req Request) Reply { return Reply{Text: "You said: " + req.LastUser()} }

// Fixed returns a Responder that always answers text.
func Fixed(text string) Responder {
	return func(Request) Reply { return Reply{Text: text} }
}

var lorem = strings.Fields(`lorem ipsum dolor sit amet consectetur adipiscing
elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua`)

// Words returns a Responder answering n deterministic lorem-ipsum words,
// handy for benchmarks that need a known reply size.
func Words(n int) Responder {
	words := make([]string, n)
	for i := range words {
		words[i] = lorem[i%len(lorem)]
	}
	text := strings.Join(words, " ")
	return func(Request) Reply { return Reply{Text: text} }
}

// CountTokens is the fake tokenizer: whitespace-separated words.
func CountTokens(s string) int { return len(strings.Fields(s)) }

// SplitWords splits s into deltas of one word each, leading whitespace
// attached, so that concatenating them gives back s exactly.
func SplitWords(s string) []string {
	var out []string
	start, inWord := 0, false
	for i, r := range s {
		space := unicode.IsSpace(r)
		if inWord && space {
			out = append(out, s[start:i])
			start = i
		}
		inWord = !space
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// Embed returns a deterministic L2-normalised hashed bag-of-words vector, so
// texts sharing words get a positive cosine similarity.
func Embed(text string, dim int) []float64 {
	if dim <= 0 {
		dim = 64
	}
	v := make([]float64, dim)
	for _, w := range strings.Fields(strings.ToLower(text)) {
		w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsNumber(r) })
		if w == "" {
			continue
		}
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		sum := h.Sum64()
		sign := 1.0
		if sum>>63 == 1 {
			sign = -1
		}
		v[sum%uint64(dim)] += sign
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	if norm == 0 {
		return v // all-zero for empty text; normalising would give NaN
	}
	norm = math.Sqrt(norm)
	for i := range v {
		v[i] /= norm
	}
	return v
}

// deltas returns the streamed pieces of the reply.
func (r Reply) deltas() []string {
	if r.Deltas != nil {
		return r.Deltas
	}
	return SplitWords(r.Text)
}

// content is the full reply text, identical whether streamed or not.
func (r Reply) content() string {
	if r.Deltas != nil {
		return strings.Join(r.Deltas, "")
	}
	return r.Text
}

func (r Reply) hasFault() bool {
	return r.Status >= 400 || r.HeaderDelay > 0 || r.FirstTokenDelay > 0 ||
		r.TokenInterval > 0 || r.StallAfter != 0 || r.MalformedAfter != 0 ||
		r.ErrorAfter != 0 || r.DisconnectAfter != 0 || r.OmitUsage
}

// withDefaults fills every unset fault/timing field from d.
func (r Reply) withDefaults(d Reply) Reply {
	fill(&r.Status, d.Status)
	fill(&r.ErrorType, d.ErrorType)
	fill(&r.ErrorMessage, d.ErrorMessage)
	fill(&r.RetryAfter, d.RetryAfter)
	fill(&r.FinishReason, d.FinishReason)
	fill(&r.HeaderDelay, d.HeaderDelay)
	fill(&r.FirstTokenDelay, d.FirstTokenDelay)
	fill(&r.TokenInterval, d.TokenInterval)
	fill(&r.StallAfter, d.StallAfter)
	fill(&r.StallFor, d.StallFor)
	fill(&r.StallUntil, d.StallUntil)
	fill(&r.MalformedAfter, d.MalformedAfter)
	fill(&r.ErrorAfter, d.ErrorAfter)
	fill(&r.DisconnectAfter, d.DisconnectAfter)
	fill(&r.OmitUsage, d.OmitUsage)
	return r
}

func fill[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// firesAt reports whether a position fault set to k fires once sent of n
// deltas have gone out.
func firesAt(k, sent, n int) bool {
	switch {
	case k == 0:
		return false
	case k < 0:
		k = 0
	case k > n:
		k = n
	}
	return sent == k
}

// finishReason maps the reply's finish reason to the provider's spelling.
func (r Reply) finishReason(anthropic bool) string {
	switch r.FinishReason {
	case "", "stop", "end_turn":
		if anthropic {
			return "end_turn"
		}
		return "stop"
	case "length", "max_tokens":
		if anthropic {
			return "max_tokens"
		}
		return "length"
	}
	return r.FinishReason
}
