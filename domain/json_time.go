package domain

import "time"

// appendTimeText appends what t.AppendText appends (RFC 3339 with the
// nanoseconds, trailing zeros dropped), and fails where it fails. A
// session's JSON holds three or four times and is written at every
// commit: AppendText's digits, each written by a loop of its own, were
// some 900 instructions a time, where pairs of digits from a table take a
// fifth of that. Times before 1970, past 9999 or in a zone that is not a
// whole minute of less than a day are left to AppendText.
// TestAppendTimeTextIsAppendText holds it to AppendText.
func appendTimeText(b []byte, t time.Time) ([]byte, error) {
	_, offset := t.Zone()
	secs := t.Unix() + int64(offset)
	if secs < 0 || secs >= year10000 || offset%60 != 0 || offset <= -86400 || offset >= 86400 {
		return t.AppendText(b)
	}
	var out [len("2006-01-02T15:04:05.999999999-07:00")]byte
	y, m, d := civilDate(secs / 86400)
	clock := int(secs % 86400)
	putPair(out[0:], y/100)
	putPair(out[2:], y%100)
	out[4] = '-'
	putPair(out[5:], m)
	out[7] = '-'
	putPair(out[8:], d)
	out[10] = 'T'
	putPair(out[11:], clock/3600)
	out[13] = ':'
	putPair(out[14:], clock/60%60)
	out[16] = ':'
	putPair(out[17:], clock%60)
	n := 19
	if ns := t.Nanosecond(); ns != 0 {
		n = putNanos(&out, ns)
	}
	return append(b, out[:putZone(&out, n, offset/60)]...), nil
}

// year10000 is 10000-01-01T00:00:00Z in Unix seconds: from there on a
// year takes five digits, which AppendText refuses.
const year10000 = 253402300800

// putNanos writes ns (1 to 999999999) as the fraction after a second, at
// out[19], without its trailing zeros, and returns the length written to.
func putNanos(out *[35]byte, ns int) int {
	out[19] = '.'
	putPair(out[20:], ns/10000000)
	putPair(out[22:], ns/100000%100)
	putPair(out[24:], ns/1000%100)
	putPair(out[26:], ns/10%100)
	out[28] = byte('0' + ns%10)
	n := 29
	for out[n-1] == '0' {
		n--
	}
	return n
}

// putZone writes the zone of offset minutes at out[n] and returns the
// length written to: Z for UTC, else ±hh:mm.
func putZone(out *[35]byte, n, minutes int) int {
	if minutes == 0 {
		out[n] = 'Z'
		return n + 1
	}
	out[n] = '+'
	if minutes < 0 {
		out[n], minutes = '-', -minutes
	}
	putPair(out[n+1:], minutes/60)
	out[n+3] = ':'
	putPair(out[n+4:], minutes%60)
	return n + 6
}

// civilDate is the date of the day days after 1970-01-01 (days >= 0), by
// the proleptic Gregorian calendar (Hinnant's days-to-civil).
func civilDate(days int64) (year, month, day int) {
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = int(doy - (153*mp+2)/5 + 1)
	month = int(mp + 3)
	if month > 12 {
		month -= 12
	}
	year = int(yoe + era*400)
	if month <= 2 {
		year++
	}
	return year, month, day
}

// putPair writes v (0 to 99) as two digits at b[0:2].
func putPair(b []byte, v int) {
	b[0], b[1] = digitPairs[2*v], digitPairs[2*v+1]
}

// digitPairs are 00 to 99, two bytes each.
const digitPairs = "00010203040506070809" + "10111213141516171819" + "20212223242526272829" + "30313233343536373839" +
	"40414243444546474849" + "50515253545556575859" + "60616263646566676869" + "70717273747576777879" +
	"80818283848586878889" + "90919293949596979899"
