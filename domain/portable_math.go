package domain

import "math"

// Rule scores are the same to the bit on every architecture (checked on
// amd64, arm64, ppc64le and s390x), so that moving a service from amd64
// to arm64 picks the same rule for every message. Two things would break
// that, and this package's float code avoids both:
//
//   - The Go spec lets a compiler fuse x*y + z into one multiply-add that
//     rounds once, and it does on arm64, ppc64le, s390x, riscv64, loong64
//     and amd64 built with GOAMD64=v3. An explicit conversion rounds and
//     prevents the fusion, so a product that is added to or subtracted
//     from is written float64(x*y) (float32 for float32 sums), even where
//     it looks redundant. test/fusedmadd, which scripts/lint.sh runs,
//     compiles this package for the server ones and fails on any fused
//     instruction that math.FMA did not ask for.
//   - math.Exp, math.Log and math.Log1p are assembly on some architectures
//     and differ in the last bit between them (amd64's Exp even depends on
//     whether the CPU has FMA). exp, log and log1p below compute them the
//     same everywhere, to the bit what math computes on amd64 with FMA,
//     where the golden digests were taken.

// exp is e**x as math.Exp computes it on amd64 on a CPU with FMA
// (math/exp_amd64.s, after Shibata, "Efficient evaluation methods of
// elementary functions suitable for SIMD computation", 2010): its fused
// steps are math.FMA, which rounds once on every architecture.
func exp(x float64) float64 {
	const (
		log2e    = 1.4426950408889634073599246810018920
		ln2U     = 0.69314718055966295651160180568695068359375
		ln2L     = 0.28235290563031577122588448175013436025525412068e-12
		overflow = 7.09782712893384e+02
	)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case math.IsInf(x, -1):
		return 0
	case x > overflow:
		return math.Inf(1)
	}
	// k is log2e·x rounded to the nearest int32, ties to even, as CVTSD2SL
	// rounds; out of range (far below any underflow) it is the least one.
	k := int64(math.MinInt32)
	if t := math.RoundToEven(float64(log2e * x)); t > math.MinInt32 {
		k = int64(t)
	}
	kf := float64(k)
	r := math.FMA(-kf, ln2U, x)
	r = math.FMA(-kf, ln2L, r)
	r *= 0.0625
	// e**r - 1 by its Taylor series, then squared four times: e**(16r) - 1.
	p := math.FMA(2.4801587301587301587e-5, r, 1.9841269841269841270e-4)
	p = math.FMA(p, r, 1.3888888888888888889e-3)
	p = math.FMA(p, r, 8.3333333333333333333e-3)
	p = math.FMA(p, r, 4.1666666666666666667e-2)
	p = math.FMA(p, r, 1.6666666666666666667e-1)
	p = math.FMA(p, r, 0.5)
	p = math.FMA(p, r, 1)
	r = float64(r * p)
	for range 3 {
		r = float64(r * (r + 2))
	}
	r = math.FMA(r, r+2, 1)
	return scaleByPowerOfTwo(r, k)
}

// scaleByPowerOfTwo is r·2**k as exp_amd64.s's last steps compute it: to
// +Inf past the largest exponent, in two steps into the subnormals, and 0
// below them.
func scaleByPowerOfTwo(r float64, k int64) float64 {
	biased := k + 0x3ff
	switch {
	case biased >= 0x7ff:
		return math.Inf(1)
	case biased > 0:
		return r * math.Float64frombits(uint64(biased)<<52)
	case biased < -52:
		return 0
	}
	r *= math.Float64frombits(uint64(biased+0x3fe) << 52)
	return r * math.Float64frombits(1<<52)
}

// log is the natural logarithm as math's pure Go log computes it (after
// FreeBSD's e_log.c), without fusing; for every normal x it is math.Log
// on amd64, whose assembly does the same operations in the same order.
func log(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01 // 3fe62e42 fee00000
		ln2Lo = 1.90821492927058770002e-10 // 3dea39ef 35793c76
		l1    = 6.666666666666735130e-01   // 3FE55555 55555593
		l2    = 3.999999999940941908e-01   // 3FD99999 9997FA04
		l3    = 2.857142874366239149e-01   // 3FD24924 94229359
		l4    = 2.222219843214978396e-01   // 3FCC71C5 1D8E78AF
		l5    = 1.818357216161805012e-01   // 3FC74664 96CB03DE
		l6    = 1.531383769920937332e-01   // 3FC39A09 D078C69F
		l7    = 1.479819860511658591e-01   // 3FC2F112 DF3E5244
	)
	switch {
	case math.IsNaN(x) || math.IsInf(x, 1):
		return x
	case x < 0:
		return math.NaN()
	case x == 0:
		return math.Inf(-1)
	}
	f1, ki := math.Frexp(x)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)
	s := f / (2 + f)
	s2 := s * s
	s4 := s2 * s2
	t1 := float64(s2 * (l1 + float64(s4*(l3+float64(s4*(l5+float64(s4*l7)))))))
	t2 := float64(s4 * (l2 + float64(s4*(l4+float64(s4*l6)))))
	r := t1 + t2
	hfsq := float64(0.5 * f * f)
	return float64(k*ln2Hi) - ((hfsq - (float64(s*(hfsq+r)) + float64(k*ln2Lo))) - f)
}

// log1p is log(1+x) as math's pure Go log1p computes it (after FreeBSD's
// s_log1p.c), without fusing: on amd64 it is math.Log1p to the bit.
func log1p(x float64) float64 {
	const (
		sqrt2M1     = 4.142135623730950488017e-01  // Sqrt(2)-1
		sqrt2HalfM1 = -2.928932188134524755992e-01 // Sqrt(2)/2-1
		small       = 1.0 / (1 << 29)
		tiny        = 1.0 / (1 << 54)
	)
	switch {
	case x < -1 || math.IsNaN(x):
		return math.NaN()
	case x == -1:
		return math.Inf(-1)
	case math.IsInf(x, 1):
		return math.Inf(1)
	}
	absx := math.Abs(x)
	if absx < sqrt2M1 {
		switch {
		case absx < tiny:
			return x
		case absx < small:
			return x - float64(x*x*0.5)
		case x > sqrt2HalfM1:
			return log1pReduced(x, 0, 0, 1)
		}
	}
	f, c, k, iu := log1pReduce(x, absx)
	return log1pReduced(f, c, k, iu)
}

// log1pReduce writes 1+x as 2**k·(1+f) with √2/2 < 1+f < √2, and c the
// rounding error of 1+x over 1+x; iu is what s_log1p.c keeps of 1+f's
// mantissa, 0 when |f| < 2**-20.
func log1pReduce(x, absx float64) (f, c float64, k int, iu uint64) {
	const two53 = 1 << 53
	u := x
	if absx < two53 {
		u = 1.0 + x
		iu = math.Float64bits(u)
		k = int((iu >> 52) - 1023)
		if k > 0 {
			c = 1.0 - (u - x)
		} else {
			c = x - (u - 1.0)
		}
		c /= u
	} else {
		iu = math.Float64bits(u)
		k = int((iu >> 52) - 1023)
	}
	iu &= 0x000fffffffffffff
	if iu < 0x0006a09e667f3bcd { // mantissa of Sqrt(2)
		u = math.Float64frombits(iu | 0x3ff0000000000000) // normalize u
	} else {
		k++
		u = math.Float64frombits(iu | 0x3fe0000000000000) // normalize u/2
		iu = (0x0010000000000000 - iu) >> 2
	}
	return u - 1.0, c, k, iu
}

// log1pReduced is k·ln2 + log(1+f) + c, log1p's value after log1pReduce.
func log1pReduced(f, c float64, k int, iu uint64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01 // 3fe62e42 fee00000
		ln2Lo = 1.90821492927058770002e-10 // 3dea39ef 35793c76
	)
	hfsq := float64(0.5 * f * f)
	fk := float64(k)
	if iu == 0 { // |f| < 2**-20
		if f == 0 {
			if k == 0 {
				return 0
			}
			c += float64(fk * ln2Lo)
			return float64(fk*ln2Hi) + c
		}
		r := float64(hfsq * (1.0 - float64(0.66666666666666666*f))) // avoid division
		if k == 0 {
			return f - r
		}
		return float64(fk*ln2Hi) - ((r - (float64(fk*ln2Lo) + c)) - f)
	}
	s := f / (2.0 + f)
	z := s * s
	// Lp1 + z·(Lp2 + z·(… + z·Lp7)), times z, innermost first.
	var r float64
	for _, lp := range [...]float64{
		1.479819860511658591e-01, // Lp7 3FC2F112DF3E5244
		1.531383769920937332e-01, // Lp6 3FC39A09D078C69F
		1.818357216161805012e-01, // Lp5 3FC7466496CB03DE
		2.222219843214978396e-01, // Lp4 3FCC71C51D8E78AF
		2.857142874366239149e-01, // Lp3 3FD2492494229359
		3.999999999940941908e-01, // Lp2 3FD999999997FA04
		6.666666666666735130e-01, // Lp1 3FE5555555555593
	} {
		r = float64(z * (lp + r))
	}
	if k == 0 {
		return f - (hfsq - float64(s*(hfsq+r)))
	}
	return float64(fk*ln2Hi) - ((hfsq - (float64(s*(hfsq+r)) + (float64(fk*ln2Lo) + c))) - f)
}
