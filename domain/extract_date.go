package domain

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DateLayout is how date variables hold their values.
const DateLayout = "2006-01-02"

const monthNames = `january|february|march|april|may|june|july|august|september|october|november|december|` +
	`jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec`

const smallCount = `\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten`

// The ways of writing a date, tried in this order; a later one never reads
// text an earlier one already read.
var (
	isoDate     = regexp.MustCompile(`\b(\d{4})-(\d{1,2})-(\d{1,2})\b`)
	slashDate   = regexp.MustCompile(`\b(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?\b`)
	dottedDate  = regexp.MustCompile(`\b(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})\b`)
	dayMonth    = regexp.MustCompile(`(?i)\b(\d{1,2})(?:st|nd|rd|th)?(?:\s+of)?\s+(` + monthNames + `)\b\.?(?:,?\s+(\d{4})\b)?`)
	monthDay    = regexp.MustCompile(`(?i)\b(` + monthNames + `)\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(\d{4})\b)?`)
	relativeDay = regexp.MustCompile(`(?i)\b(?:(?:the\s+)?day\s+after\s+tomorrow|(?:the\s+)?day\s+before\s+yesterday|today|tonight|tomorrow|yesterday)\b`)
	inDays      = regexp.MustCompile(`(?i)\bin\s+(` + smallCount + `)\s+(day|week)s?\b`)
	daysAgo     = regexp.MustCompile(`(?i)\b(` + smallCount + `)\s+(day|week)s?\s+ago\b`)
	weekday     = regexp.MustCompile(`(?i)\b(?:(next|last|this|on)\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b`)
)

// dateCandidates reads every date in msg. Dates without a year are the
// nearest such day to now's (in now's location); relative ones count from
// now's day. order is the variable's DateOrder.
func dateCandidates(msg string, now time.Time, order string) []candidate {
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	taken := make([]bool, len(msg))
	var out []candidate
	read := func(re *regexp.Regexp, fn func(m []string) candidate) {
		for _, loc := range re.FindAllStringSubmatchIndex(msg, -1) {
			if containsTrue(taken[loc[0]:loc[1]]) {
				continue
			}
			for i := loc[0]; i < loc[1]; i++ {
				taken[i] = true
			}
			m := make([]string, len(loc)/2)
			for i := range m {
				m[i] = group(msg, loc, i)
			}
			c := fn(m)
			c.text, c.start, c.end = msg[loc[0]:loc[1]], loc[0], loc[1]
			out = append(out, c)
		}
	}
	read(isoDate, func(m []string) candidate { return calendarDate(atoi(m[1]), atoi(m[2]), atoi(m[3])) })
	read(slashDate, func(m []string) candidate { return numericDate(m[1], m[2], m[3], order, today) })
	read(dottedDate, func(m []string) candidate { return numericDate(m[1], m[2], m[3], order, today) })
	read(dayMonth, func(m []string) candidate { return namedDate(m[1], m[2], m[3], today) })
	read(monthDay, func(m []string) candidate { return namedDate(m[2], m[1], m[3], today) })
	read(relativeDay, func(m []string) candidate {
		w := strings.ToLower(m[0])
		switch {
		case strings.Contains(w, "after"):
			return dayValue(today.AddDate(0, 0, 2))
		case strings.Contains(w, "before"):
			return dayValue(today.AddDate(0, 0, -2))
		case w == "tomorrow":
			return dayValue(today.AddDate(0, 0, 1))
		case w == "yesterday":
			return dayValue(today.AddDate(0, 0, -1))
		}
		return dayValue(today)
	})
	read(inDays, func(m []string) candidate { return dayValue(today.AddDate(0, 0, countDays(m[1], m[2]))) })
	read(daysAgo, func(m []string) candidate { return dayValue(today.AddDate(0, 0, -countDays(m[1], m[2]))) })
	read(weekday, func(m []string) candidate { return weekdayDate(strings.ToLower(m[1]), strings.ToLower(m[2]), today) })
	return sortByStart(out)
}

func containsTrue(bs []bool) bool {
	for _, b := range bs {
		if b {
			return true
		}
	}
	return false
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func dayValue(d time.Time) candidate { return candidate{value: d.Format(DateLayout)} }

// calendarDate is year-month-day, or invalid when there is no such day.
func calendarDate(y, m, d int) candidate {
	t, ok := validDate(y, m, d)
	if !ok {
		return candidate{}.invalidBecause("there is no such day")
	}
	return dayValue(t)
}

func validDate(y, m, d int) (time.Time, bool) {
	if m < 1 || m > 12 || d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	return t, t.Month() == time.Month(m) && t.Day() == d
}

// nearest is month-day in the year (before, of or after today's) that
// puts it closest to today; a tie goes to the later one.
func nearest(m, d int, today time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	for _, y := range []int{today.Year() - 1, today.Year(), today.Year() + 1} {
		t, ok := validDate(y, m, d)
		if ok && (!found || absDays(t, today) <= absDays(best, today)) {
			best, found = t, true
		}
	}
	return best, found
}

func absDays(a, b time.Time) time.Duration {
	if a.Before(b) {
		return b.Sub(a)
	}
	return a.Sub(b)
}

// yearOf reads a written year ("24" is 2024), or 0 when there is none.
func yearOf(s string) int {
	switch len(s) {
	case 0:
		return 0
	case 2:
		return 2000 + atoi(s)
	}
	return atoi(s)
}

// dayIn is day d of month m in year y, or the nearest one when y is 0.
func dayIn(y, m, d int, today time.Time) (time.Time, bool) {
	if y == 0 {
		return nearest(m, d, today)
	}
	return validDate(y, m, d)
}

// numericDate reads a/b[/y] as day/month or month/day.
func numericDate(a, b, y, order string, today time.Time) candidate {
	year := yearOf(y)
	dmy, dmyOK := dayIn(year, atoi(b), atoi(a), today)
	mdy, mdyOK := dayIn(year, atoi(a), atoi(b), today)
	switch order {
	case DateOrderDMY:
		if dmyOK {
			return dayValue(dmy)
		}
	case DateOrderMDY:
		if mdyOK {
			return dayValue(mdy)
		}
	default:
		switch {
		case dmyOK && mdyOK && !dmy.Equal(mdy):
			return candidate{ambiguous: true, detail: dmy.Format("2 January") + " or " + mdy.Format("2 January") + ": please write the month's name"}
		case dmyOK:
			return dayValue(dmy)
		case mdyOK:
			return dayValue(mdy)
		}
	}
	return candidate{}.invalidBecause("there is no such day")
}

// namedDate reads a day and a month name, with an optional year.
func namedDate(day, month, year string, today time.Time) candidate {
	m := monthNumber(month)
	t, ok := dayIn(yearOf(year), m, atoi(day), today)
	if !ok {
		return candidate{}.invalidBecause("there is no such day")
	}
	return dayValue(t)
}

func monthNumber(name string) int {
	name = strings.ToLower(name)
	for i, m := range strings.Split(monthNames, "|")[:12] {
		if strings.HasPrefix(m, name[:3]) {
			return i + 1
		}
	}
	return 0
}

func countDays(n, unit string) int {
	count := 0
	switch strings.ToLower(n) {
	case "a", "an", "one":
		count = 1
	default:
		if v, ok := spelledUnits[strings.ToLower(n)]; ok {
			count = int(v)
		} else {
			count = atoi(n)
		}
	}
	if strings.EqualFold(unit, "week") {
		count *= 7
	}
	return count
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

// weekdayDate reads "friday" or "this friday" as the next Friday from
// today on (today included), "next friday" as the first Friday after
// today and "last friday" as the last one before today.
func weekdayDate(which, day string, today time.Time) candidate {
	ahead := (int(weekdays[day]) - int(today.Weekday()) + 7) % 7
	switch which {
	case "next":
		if ahead == 0 {
			ahead = 7
		}
	case "last":
		ahead -= 7
	}
	return dayValue(today.AddDate(0, 0, ahead))
}
