package domain

import (
	"sync/atomic"
	"time"
)

// DateFormat formats times with a layout of date fields only (year, month,
// day: "2006-01-02"), as time.Time.Format does, keeping the last string
// made: every turn formats the day or month it runs in, and a day's turns
// then share one string instead of formatting and allocating it each.
// It is safe for concurrent use.
type DateFormat struct {
	layout string
	last   atomic.Pointer[formattedDate]
}

type formattedDate struct {
	year  int
	month time.Month
	day   int
	text  string
}

// NewDateFormat returns a DateFormat for layout, which must hold no field
// but the year, month and day.
func NewDateFormat(layout string) *DateFormat { return &DateFormat{layout: layout} }

// Format is t.Format(layout): the date in t's location.
func (f *DateFormat) Format(t time.Time) string {
	y, m, d := t.Date()
	if l := f.last.Load(); l != nil && l.year == y && l.month == m && l.day == d {
		return l.text
	}
	s := t.Format(f.layout)
	f.last.Store(&formattedDate{year: y, month: m, day: d, text: s})
	return s
}
