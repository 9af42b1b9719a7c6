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
	Amounts     []float64 // money amounts: "$1,200.50", "30 EUR", "12 dollars"
	Percentages []float64 // "15%", "7.5 percent"
	Numbers     []float64 // every number
	MaxAmount   float64
	MaxPercent  float64
}

var (
	currencyBefore = regexp.MustCompile(`(?i)(?:[$€£¥]|\b(?:usd|eur|gbp)\s?)\s?(\d[\d,]*(?:\.\d+)?)`)
	currencyAfter  = regexp.MustCompile(`(?i)(\d[\d,]*(?:\.\d+)?)\s?(?:usd|eur|gbp|dollars?|euros?|pounds?)\b`)
	percentage     = regexp.MustCompile(`(?i)(\d+(?:\.\d+)?)\s?(?:%|percent\b)`)
	number         = regexp.MustCompile(`\d[\d,]*(?:\.\d+)?`)
)

// ExtractReplyFacts reads amounts, percentages, numbers and length from text.
func ExtractReplyFacts(text string) ReplyFacts {
	f := ReplyFacts{Text: text, Length: utf8.RuneCountInString(text), Words: len(strings.Fields(text))}
	f.Amounts = append(captured(currencyBefore, text), captured(currencyAfter, text)...)
	f.Percentages = captured(percentage, text)
	for _, m := range number.FindAllString(text, -1) {
		if v, ok := parseNumber(m); ok {
			f.Numbers = append(f.Numbers, v)
		}
	}
	for _, a := range f.Amounts {
		f.MaxAmount = max(f.MaxAmount, a)
	}
	for _, p := range f.Percentages {
		f.MaxPercent = max(f.MaxPercent, p)
	}
	return f
}

func captured(re *regexp.Regexp, text string) []float64 {
	var out []float64
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		if v, ok := parseNumber(m[1]); ok {
			out = append(out, v)
		}
	}
	return out
}

func parseNumber(s string) (float64, bool) {
	v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return v, err == nil
}
