package domain

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// numberRun is a number as customers write it: digits, with "," or "."
// between digit groups.
var numberRun = regexp.MustCompile(`\d+(?:[.,]\d+)*`)

// numberTokens finds the numbers written in digits that stand on their
// own: not part of a word ("AC123456", "3pm", "2nd"), an id ("AC-123456"),
// a time ("10:30") or a date or fraction ("12/03").
func numberTokens(msg string) [][2]int {
	var out [][2]int
	for _, loc := range numberRun.FindAllStringIndex(msg, -1) {
		before, _ := utf8.DecodeLastRuneInString(msg[:loc[0]])
		after, _ := utf8.DecodeRuneInString(msg[loc[1]:])
		switch {
		case unicode.IsLetter(before) || unicode.IsLetter(after):
		case before == ':' || after == ':' || before == '/' || after == '/':
		case before == '-' || before == '#':
			// "AC-123456" is an id; "- 3" or "#3" alone is a number.
			prev, _ := utf8.DecodeLastRuneInString(msg[:loc[0]-1])
			if prev == utf8.RuneError || unicode.IsSpace(prev) {
				out = append(out, [2]int{loc[0], loc[1]})
			}
		default:
			out = append(out, [2]int{loc[0], loc[1]})
		}
	}
	return out
}

// numberCandidates reads every number in msg, in digits or spelt out.
func numberCandidates(msg string) []candidate {
	var out []candidate
	for _, loc := range numberTokens(msg) {
		out = append(out, readNumberAt(msg, loc[0], loc[1]))
	}
	for _, n := range spelledNumbers(msg) {
		out = append(out, candidate{value: n.value, text: msg[n.start:n.end], start: n.start, end: n.end})
	}
	return sortByStart(out)
}

// readNumberAt reads the number token msg[start:end].
func readNumberAt(msg string, start, end int) candidate {
	tok := msg[start:end]
	c := candidate{text: tok, start: start, end: end}
	v, other, ok := parseNumber(tok)
	switch {
	case !ok:
		return c.invalidBecause("it is not a number")
	case math.IsInf(v, 0) || math.IsInf(other, 0):
		// Hundreds of digits overflow a float64: no amount or count.
		return c.invalidBecause("it is too large a number")
	case other >= 0:
		c.ambiguous = true
		c.detail = FormatValue(v) + " or " + FormatValue(other)
	}
	c.value = v
	return c
}

// parseNumber reads a number written with "." or "," between digit
// groups. A point is a decimal point and commas group thousands ("1,234.5"),
// or the other way round ("1.234,5"); a lone comma before one or two digits
// is a decimal comma ("12,50"). "1.000" reads as a thousand or as one:
// other is then the second reading (else -1), and the caller asks.
func parseNumber(tok string) (v, other float64, ok bool) {
	other = -1
	commas, points := strings.Count(tok, ","), strings.Count(tok, ".")
	parts := strings.FieldsFunc(tok, func(r rune) bool { return r == ',' || r == '.' })
	num := func(s string) float64 {
		f, _ := strconv.ParseFloat(s, 64)
		return f
	}
	grouped := func(groups []string) bool {
		if len(groups[0]) > 3 {
			return false
		}
		for _, g := range groups[1:] {
			if len(g) != 3 {
				return false
			}
		}
		return true
	}
	switch {
	case commas == 0 && points == 0:
		return num(tok), other, true
	case commas > 0 && points > 0:
		last := strings.LastIndexAny(tok, ",.")
		decimalSep := tok[last]
		head := parts[:len(parts)-1]
		if strings.Count(tok, string(decimalSep)) != 1 || !grouped(head) {
			return 0, other, false
		}
		return num(strings.Join(head, "") + "." + parts[len(parts)-1]), other, true
	case commas == 1 && len(parts[1]) <= 2:
		return num(parts[0] + "." + parts[1]), other, true
	case points == 1 && len(parts[1]) != 3:
		return num(tok), other, true
	case points == 1:
		// "1.000": a thousand with a grouping point, or one with three decimals.
		return num(parts[0] + parts[1]), num(tok), true
	case grouped(parts):
		return num(strings.Join(parts, "")), other, true
	}
	return 0, other, false
}

// Currencies customers write, by symbol, code and word.
var (
	currencySymbols = map[string]string{"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY"}
	currencyCodes   = strings.Fields("USD EUR GBP CHF JPY CAD AUD NZD SEK NOK DKK PLN CZK HUF INR CNY BRL MXN ZAR SGD HKD")
	currencyWords   = map[string]string{"dollar": "USD", "buck": "USD", "euro": "EUR", "pound": "GBP", "quid": "GBP",
		"franc": "CHF", "yen": "JPY"}
	currencyBeforeAmount = regexp.MustCompile(`(?i)(?:([$€£¥])|\b([a-z]{3}))\s?$`)
	currencyAfterAmount  = regexp.MustCompile(`(?i)^\s?(?:([$€£¥])|([a-z]+)\b)`)
)

// currencyReach is how many bytes before or after a number a currency
// sign, code or word may stand ("dollars " is the longest).
const currencyReach = 16

// currencyNamed returns the ISO code a symbol, code or word names, or "".
func currencyNamed(symbol, name string) string {
	if symbol != "" {
		return currencySymbols[symbol]
	}
	up := strings.ToUpper(name)
	for _, c := range currencyCodes {
		if c == up {
			return c
		}
	}
	return currencyWords[strings.TrimSuffix(strings.ToLower(name), "s")]
}

// currencyBeside returns the currency a sign, code or word names right
// before a number (at the end of before) or, failing that, right after it
// (at the start of after), and how many bytes of before and of after it
// takes; "" when neither names one. Customers' amounts and replies'
// amounts are read by it alike.
func currencyBeside(before, after string) (currency string, took, gave int) {
	if m := currencyBeforeAmount.FindStringSubmatchIndex(before); m != nil {
		if currency = currencyNamed(group(before, m, 1), group(before, m, 2)); currency != "" {
			return currency, len(before) - m[0], 0
		}
	}
	if m := currencyAfterAmount.FindStringSubmatchIndex(after); m != nil {
		if currency = currencyNamed(group(after, m, 1), group(after, m, 2)); currency != "" {
			return currency, 0, m[1]
		}
	}
	return "", 0, 0
}

// amountCandidates reads money amounts: numbers with a currency sign, code
// or word before or after them ("$45", "45 EUR", "12,50 €", "20 dollars").
// Only when none has one do bare numbers count, in the variable's currency.
func (x *Extractor) amountCandidates(msg string) []candidate {
	var marked, bare []candidate
	for _, loc := range numberTokens(msg) {
		c := readNumberAt(msg, loc[0], loc[1])
		// Only the few bytes around the number can name its currency;
		// reading no further keeps a long message's numbers linear.
		from := max(0, loc[0]-currencyReach)
		currency, took, gave := currencyBeside(msg[from:loc[0]], msg[loc[1]:min(len(msg), loc[1]+currencyReach)])
		if took > 0 {
			c.start = loc[0] - took
		}
		if gave > 0 {
			c.end = loc[1] + gave
		}
		c.text = msg[c.start:c.end]
		if currency == "" {
			bare = append(bare, x.amount(c, x.v.Currency))
			continue
		}
		marked = append(marked, x.amount(c, currency))
	}
	// Spelt out, an amount needs its currency: "fifty euros", "a hundred
	// dollars"; a bare "one" is more often "one more thing" than money.
	for _, n := range spelledNumbers(msg) {
		from := max(0, n.start-currencyReach)
		currency, took, gave := currencyBeside(msg[from:n.start], msg[n.end:min(len(msg), n.end+currencyReach)])
		if currency != "" {
			c := candidate{value: n.value, start: n.start - took, end: n.end + gave}
			c.text = msg[c.start:c.end]
			marked = append(marked, x.amount(c, currency))
		}
	}
	if len(marked) > 0 {
		return sortByStart(marked)
	}
	return bare
}

// amount makes c's number an amount in currency, refusing another
// currency than the variable's.
func (x *Extractor) amount(c candidate, currency string) candidate {
	if !c.ok() {
		return c
	}
	if x.v.Currency != "" && currency != x.v.Currency {
		return c.invalidBecause("amounts are in " + x.v.Currency)
	}
	c.value = amountValue(c.value.(float64), currency)
	return c
}

// amountValue is an amount as variables hold it.
func amountValue(v float64, currency string) map[string]any {
	out := map[string]any{"value": v}
	if currency != "" {
		out["currency"] = currency
	}
	return out
}

// group returns submatch i of a FindStringSubmatchIndex result, or "".
func group(s string, m []int, i int) string {
	if m[2*i] < 0 {
		return ""
	}
	return s[m[2*i]:m[2*i+1]]
}
