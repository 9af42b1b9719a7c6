package domain

import (
	"strings"
	"unicode"
)

// Numbers spelt out: a customer's "two hundred" or "twenty-five" is one
// number, not the 2 of its first word or two numbers; a reply's "two
// thousand dollars" is an amount as much as "$2,000" is.

var (
	spelledUnits = func() map[string]float64 {
		m := map[string]float64{}
		for i, w := range strings.Fields(`zero one two three four five six seven eight nine ten eleven twelve
			thirteen fourteen fifteen sixteen seventeen eighteen nineteen`) {
			m[w] = float64(i)
		}
		for i, w := range strings.Fields("twenty thirty forty fifty sixty seventy eighty ninety") {
			m[w] = float64(20 + 10*i)
		}
		return m
	}()
	spelledScales = map[string]float64{"thousand": 1e3, "million": 1e6, "billion": 1e9}
)

// spelledNumber is a number written in words and where it stands.
type spelledNumber struct {
	value      float64
	start, end int
}

// spelledRun reads the words of one spelled number, in order.
type spelledRun struct {
	total, current float64
	words          int     // number words read; "a" and "and" do not count
	last           float64 // the last unit or tens word's value, 0 after a scale
	scaled         bool    // the last word was "hundred" or a scale
	start, end     int
	pendingA       int // start of an "a"/"an" that may begin the run, or -1
}

// add reads word w at [start, end); false when w cannot continue the run
// ("one two" is two numbers, "twenty five" one).
func (r *spelledRun) add(w string, start, end int) bool {
	v, unit := spelledUnits[w]
	switch {
	case !unit && r.words == 0 && r.pendingA < 0:
		// "hundred" or "million" begins a number only after "a": after
		// digits ("1 million") the digits' reading has it.
		return false
	case unit && r.words > 0 && !r.scaled && !(r.last >= 20 && v < 10 && v > 0):
		return false
	case unit:
		r.current += v
		r.last, r.scaled = v, false
	case w == "hundred" && r.current < 100:
		r.current = max(r.current, 1) * 100
		r.last, r.scaled = 0, true
	case spelledScales[w] > 0:
		r.total += float64(max(r.current, 1) * spelledScales[w])
		r.current, r.last, r.scaled = 0, 0, true
	case w == "and" && r.scaled:
		return true
	default:
		return false
	}
	if r.words == 0 {
		r.start = start
		if r.pendingA >= 0 {
			r.start = r.pendingA
		}
	}
	r.words++
	r.end = end
	return true
}

// spelledNumbers finds the numbers text spells out: "twenty-five", "two
// hundred and fifty", "a thousand", "three million". A run is words next
// to each other, with spaces or hyphens between them.
func spelledNumbers(text string) []spelledNumber {
	var out []spelledNumber
	run := spelledRun{pendingA: -1}
	flush := func() {
		if run.words > 0 {
			out = append(out, spelledNumber{value: run.total + run.current, start: run.start, end: run.end})
		}
		run = spelledRun{pendingA: -1}
	}
	prevEnd := 0
	for start := 0; start < len(text); {
		i := strings.IndexFunc(text[start:], unicode.IsLetter)
		if i < 0 {
			break
		}
		start += i
		end := start + strings.IndexFunc(text[start:], func(r rune) bool { return !unicode.IsLetter(r) })
		if end < start {
			end = len(text)
		}
		if strings.Trim(text[prevEnd:start], " -") != "" {
			flush()
		}
		w := strings.ToLower(text[start:end])
		if !run.add(w, start, end) {
			flush()
			if !run.add(w, start, end) && (w == "a" || w == "an") {
				run.pendingA = start
			}
		}
		prevEnd, start = end, end
	}
	flush()
	return out
}
