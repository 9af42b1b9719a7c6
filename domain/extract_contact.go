package domain

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	// emailMention is anything written around an "@".
	emailMention = regexp.MustCompile(`[^\s<>(),;:"'\[\]]*@[^\s<>(),;:"'\[\]]*`)
	emailLocal   = regexp.MustCompile(`^[A-Za-z0-9.!#$%&*+/=?^_{|}~'-]{1,64}$`)
	emailDomain  = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$`)

	// phoneMention is a run of digits with the separators phone numbers
	// are written with.
	phoneMention = regexp.MustCompile(`(?:\+|\b)\(?\d[\d ().-]*\d`)
	decimalShape = regexp.MustCompile(`^\d+[.,]\d{1,2}$`)
	// dottedDateShape is a whole mention the date reader reads as a date
	// (dottedDate): "24.12.2024" is a day, not a phone number, however
	// many digits it has.
	dottedDateShape = regexp.MustCompile(`^\d{1,2}\.\d{1,2}\.(?:\d{4}|\d{2})$`)
)

// Phone numbers have 7 to 15 digits (E.164 allows at most 15); a run of
// fewer than minPhoneMention digits is not taken for an attempt at one.
const (
	minPhoneDigits  = 7
	maxPhoneDigits  = 15
	minPhoneMention = 6
)

// emailCandidates reads every e-mail address; the domain is folded to
// lower case, the local part kept as written.
func emailCandidates(msg string) []candidate {
	var out []candidate
	for _, loc := range emailMention.FindAllStringIndex(msg, -1) {
		text := strings.TrimRight(msg[loc[0]:loc[1]], ".!?")
		c := candidate{text: text, start: loc[0], end: loc[0] + len(text)}
		local, domain, _ := strings.Cut(text, "@")
		switch {
		case local == "" && domain == "":
			continue // a lone "@"
		case !emailLocal.MatchString(local) || strings.HasPrefix(local, ".") || strings.Contains(local, ".."):
			c = c.invalidBecause("the part before the @ is not valid")
		case !emailDomain.MatchString(domain):
			c = c.invalidBecause("it needs a domain after the @, such as example.com")
		default:
			c.value = local + "@" + strings.ToLower(domain)
		}
		out = append(out, c)
	}
	return out
}

// phoneCandidates reads every phone number, as its digits with a leading
// "+" when it was written with one (or with "00").
func phoneCandidates(msg string) []candidate {
	var out []candidate
	for _, loc := range phoneMention.FindAllStringIndex(msg, -1) {
		text := msg[loc[0]:loc[1]]
		if isoDate.MatchString(text) || dottedDateShape.MatchString(text) || decimalShape.MatchString(text) || partOfWord(msg, loc[0]) {
			continue
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, text)
		if len(digits) < minPhoneMention {
			continue
		}
		c := candidate{text: text, start: loc[0], end: loc[1]}
		international := strings.HasPrefix(text, "+")
		if !international && strings.HasPrefix(digits, "00") {
			international, digits = true, digits[2:]
		}
		switch {
		case len(digits) < minPhoneDigits:
			c = c.invalidBecause("it is too short for a phone number")
		case len(digits) > maxPhoneDigits:
			c = c.invalidBecause("it is too long for a phone number")
		case international:
			c.value = "+" + digits
		default:
			c.value = digits
		}
		out = append(out, c)
	}
	return out
}

// partOfWord reports whether the text at start continues a word or an id
// ("AC-123456"), so it is no phone number.
func partOfWord(msg string, start int) bool {
	before, n := utf8.DecodeLastRuneInString(msg[:start])
	if unicode.IsLetter(before) {
		return true
	}
	if before == '-' {
		prev, _ := utf8.DecodeLastRuneInString(msg[:start-n])
		return unicode.IsLetter(prev) || unicode.IsDigit(prev)
	}
	return false
}
