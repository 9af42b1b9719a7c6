package memory

import (
	"math"
	"math/big"
	"math/bits"
)

// A candidate's and an option's scores are floats below 1 with all their
// digits (0.04775331125415757), a dozen and more a record, and strconv
// spent some 800 instructions on each: its shortest digits by Dragonbox,
// then the 'e' form appendFraction laid out anew. appendFraction finds
// the same digits by Giulietti's Schubfach ("The Schubfach way to render
// doubles", 2020; Java's Double.toString since JDK 19), for the few powers
// of ten below 1 it needs: three 128-bit products, two comparisons, and
// the digits written two at a time. Schubfach's result is the shortest
// decimal that reads back as f, the one nearest f among those, the even
// one of two as near: strconv's, which TestFractionsAreStrconvs holds it
// to over a million floats.

// The powers 10^j for which fractionG holds g: those whose j = -k a float
// 1e-6 <= |f| < 1 needs (16 to 22), and one either side.
const (
	fractionMinPow = 15
	fractionMaxPow = 23
)

// fractionG holds, for j from fractionMinPow, g = floor(10^j 2^(125 -
// floor(log2 10^j))) + 1, as its high and low 63 bits: 10^j scaled to
// [2^125, 2^126), rounded up (exact here, as 10^j < 2^125).
var fractionG = func() (g [fractionMaxPow - fractionMinPow + 1][2]uint64) {
	mask := new(big.Int).SetUint64(1<<63 - 1)
	for j := fractionMinPow; j <= fractionMaxPow; j++ {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(j)), nil)
		p.Lsh(p, uint(125-floorLog2Pow10(j)))
		p.Add(p, big.NewInt(1))
		lo := new(big.Int).And(p, mask)
		g[j-fractionMinPow] = [2]uint64{new(big.Int).Rsh(p, 63).Uint64(), lo.Uint64()}
	}
	return g
}()

// floorLog10Pow2 is floor(q log10 2), floorLog10ThreeQuartersPow2
// floor(log10(3/4 2^q)) and floorLog2Pow10 floor(j log2 10), exact for
// the exponents of any float64 (Schubfach's own formulas).
func floorLog10Pow2(q int) int { return int(int64(q) * 661_971_961_083 >> 41) }

func floorLog10ThreeQuartersPow2(q int) int {
	return int((int64(q)*661_971_961_083 - 274_743_187_321) >> 41)
}

func floorLog2Pow10(j int) int { return int(int64(j) * 913_124_641_741 >> 38) }

// appendFraction appends f, for 1e-6 <= |f| < 1 (a score, as a rule), as
// strconv writes it in 'f' form, shortest: "0.", as many zeros as the
// digits lie below the first place, the digits. It reports false,
// appending nothing, for an f it has no power of ten for or whose digits
// do not lie below 1 (never for such an f).
func appendFraction(b []byte, f float64) ([]byte, bool) {
	u := math.Float64bits(f)
	exp, mant := int(u>>52&0x7ff), u&(1<<52-1)
	if exp == 0 || exp == 0x7ff {
		return b, false // subnormal, infinite or NaN
	}
	d, e, ok := shortestDecimal(exp-1075, 1<<52|mant)
	if !ok {
		return b, false
	}
	for d%10 == 0 {
		d, e = d/10, e+1
	}
	var digits [20]byte
	i := putDigits(&digits, d)
	// The first digit's place: f is 0.(zeros)digits.
	zeros := -(len(digits) - i + e)
	if zeros < 0 || zeros > 5 {
		return b, false
	}
	if u>>63 != 0 {
		b = append(b, '-')
	}
	const lead = "0.00000"
	return append(append(b, lead[:2+zeros]...), digits[i:]...), true
}

// shortestDecimal returns the shortest decimal d 10^e that reads back as
// c 2^q, nearest it, even of two as near, by Schubfach (toDecimal in its
// Java code); false when fractionG has no power of ten for q.
func shortestDecimal(q int, c uint64) (d uint64, e int, ok bool) {
	out := c & 1 // an odd c's halfway points read back as its neighbours
	cb := c << 2
	cbr, cbl, k := cb+2, cb-2, floorLog10Pow2(q)
	if c == 1<<52 {
		// A power of two: the float below is nearer than the one above.
		cbl, k = cb-1, floorLog10ThreeQuartersPow2(q)
	}
	j := -k
	if j < fractionMinPow || j > fractionMaxPow {
		return 0, 0, false
	}
	h := q + floorLog2Pow10(j) + 2
	g := &fractionG[j-fractionMinPow]
	vb, vbl, vbr := roundOdd(g, cb<<h), roundOdd(g, cbl<<h), roundOdd(g, cbr<<h)
	s := vb >> 2
	if s >= 100 {
		hi, _ := bits.Mul64(s, 115_292_150_460_684_698<<4)
		sp10 := 10 * hi // s without its last digit
		tp10 := sp10 + 10
		upin, wpin := vbl+out <= sp10<<2, tp10<<2+out <= vbr
		if upin != wpin {
			if upin {
				return sp10, k, true
			}
			return tp10, k, true
		}
	}
	t := s + 1
	uin, win := vbl+out <= s<<2, t<<2+out <= vbr
	if uin != win {
		if uin {
			return s, k, true
		}
		return t, k, true
	}
	if cmp := int64(vb) - int64((s+t)<<1); cmp < 0 || cmp == 0 && s&1 == 0 {
		return s, k, true
	}
	return t, k, true
}

// roundOdd is Schubfach's rop: g cp / 2^127, g = g[0] 2^63 + g[1],
// rounded to odd (its last bit set when any bit below it is).
func roundOdd(g *[2]uint64, cp uint64) uint64 {
	x1, _ := bits.Mul64(g[1], cp)
	y1, y0 := bits.Mul64(g[0], cp)
	z := y0>>1 + x1
	vbp := y1 + z>>63
	return vbp | (z&(1<<63-1)+(1<<63-1))>>63
}

// twoDigits holds "00" to "99".
const twoDigits = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// putDigits writes d's decimal digits at the end of buf, two at a time,
// and returns where they start.
func putDigits(buf *[20]byte, d uint64) int {
	i := len(buf)
	for d >= 100 {
		r := d % 100
		d /= 100
		i -= 2
		buf[i], buf[i+1] = twoDigits[2*r], twoDigits[2*r+1]
	}
	if d >= 10 {
		i -= 2
		buf[i], buf[i+1] = twoDigits[2*d], twoDigits[2*d+1]
		return i
	}
	i--
	buf[i] = byte('0' + d)
	return i
}
