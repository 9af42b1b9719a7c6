package domain

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ReplyFacts are values read off a reply text, for expression constraints
// ("reply.max_amount <= 500", "reply.length < 800").
type ReplyFacts struct {
	Text        string
	Length      int // runes
	Words       int
	Amounts     []float64 // money amounts: "$1,200.50", "30 EUR", "12 dollars", "€2 million", "two thousand dollars"
	Percentages []float64 // "15%", "7.5 percent", "fifty percent"
	Numbers     []float64 // every number in digits, and the amounts and percentages spelt out
	MaxAmount   float64
	MaxPercent  float64
}

var (
	// A number: digits with optional group or decimal separators.
	numberToken = regexp.MustCompile(`\d+(?:[.,]\d+)*`)
	// What may follow a number: a scale word, then a currency or percent.
	scaleAfter   = regexp.MustCompile(`(?i)^\s?(k|hundred|thousand|m|mn|million|bn|billion)\b`)
	percentAfter = regexp.MustCompile(`(?i)^\s?(?:%|percent\b|per cent\b)`)
)

var scales = map[string]float64{
	"k": 1e3, "hundred": 100, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9,
}

// ExtractReplyFacts reads amounts, percentages, numbers and length from
// text. Each number is read once, with the currency or percent sign around
// it. Where a number's notation is ambiguous ("1.000", "12,50") it takes the
// larger reading: these facts feed limits such as "max_amount <= 500", and
// over-reading fails safe where under-reading would let a reply through.
func ExtractReplyFacts(text string) ReplyFacts {
	f := ReplyFacts{Text: text, Length: utf8.RuneCountInString(text), Words: len(strings.Fields(text))}
	for _, loc := range numberToken.FindAllStringIndex(text, -1) {
		for _, v := range readNumber(text[loc[0]:loc[1]]) {
			before, after := text[:loc[0]], text[loc[1]:]
			if m := scaleAfter.FindStringSubmatch(after); m != nil {
				v *= scales[strings.ToLower(m[1])]
				after = after[len(m[0]):]
			}
			f.Numbers = append(f.Numbers, v)
			f.classify(v, before, after)
		}
	}
	for _, n := range spelledNumbers(text) {
		if f.classify(n.value, text[:n.start], text[n.end:]) {
			f.Numbers = append(f.Numbers, n.value)
		}
	}
	return f
}

// classify notes v as a percentage or an amount when a percent sign or a
// currency stands beside it; false when neither does.
func (f *ReplyFacts) classify(v float64, before, after string) bool {
	switch {
	case percentAfter.MatchString(after):
		f.Percentages = append(f.Percentages, v)
		f.MaxPercent = max(f.MaxPercent, v)
	case isAmount(before, after):
		f.Amounts = append(f.Amounts, v)
		f.MaxAmount = max(f.MaxAmount, v)
	default:
		return false
	}
	return true
}

// isAmount reports whether a currency stands right before or after a
// number, read as customers' amounts are (currencyBeside): every sign,
// code and word they may write counts in a reply too, or a constraint
// such as "max_amount <= 500" would pass "700 CAD".
func isAmount(before, after string) bool {
	before = before[max(0, len(before)-currencyReach):]
	after = after[:min(len(after), currencyReach)]
	currency, _, _ := currencyBeside(before, after)
	return currency != ""
}

// readNumber interprets one number token. Separators that group digits in
// threes are thousands separators; a single separator followed by one, two
// or four-plus digits is a decimal point; "1.000" or "1,000" alone could be
// either and reads as the larger. A list like "1,2,3" is three numbers.
func readNumber(tok string) []float64 {
	parts := strings.FieldsFunc(tok, func(r rune) bool { return r == '.' || r == ',' })
	seps := strings.Map(func(r rune) rune {
		if r == '.' || r == ',' {
			return r
		}
		return -1
	}, tok)
	if len(parts) == 1 {
		return []float64{parse(parts[0])}
	}
	grouped := len(parts[0]) <= 3
	for _, p := range parts[1:] {
		grouped = grouped && len(p) == 3
	}
	last := parts[len(parts)-1]
	switch {
	case grouped && len(parts) > 2 && strings.Count(seps, seps[:1]) == len(seps):
		// "1,234,567" or "1.234.567": thousands all the way.
		return []float64{parse(strings.Join(parts, ""))}
	case grouped && len(parts) == 2:
		// "1,000" / "1.000": a thousand or one; the larger reading.
		return []float64{parse(parts[0] + parts[1])}
	case allGrouped(parts[:len(parts)-1]) && len(parts) > 2 && seps[len(seps)-1] != seps[0]:
		// "1,234.56" or "1.234,56": groups, then a decimal part.
		return []float64{parse(strings.Join(parts[:len(parts)-1], "") + "." + last)}
	case len(parts) == 2:
		// "12.5", "12,50": a decimal number; "12,50" might also mean 1250
		// where commas group freely, so take the larger reading.
		dec := parse(parts[0] + "." + parts[1])
		if seps == "," {
			return []float64{max(dec, parse(parts[0]+parts[1]))}
		}
		return []float64{dec}
	default:
		// "1,2,3": a list of numbers.
		out := make([]float64, len(parts))
		for i, p := range parts {
			out[i] = parse(p)
		}
		return out
	}
}

func allGrouped(parts []string) bool {
	if len(parts) == 0 || len(parts[0]) > 3 {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) != 3 {
			return false
		}
	}
	return true
}

func parse(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}
