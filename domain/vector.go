package domain

import "math"

// Normalize scales v to unit length in place, so cosine similarity becomes
// a dot product. A zero vector stays zero.
func Normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(float64(x) * float64(x))
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}

// Similarity is the cosine similarity of two unit vectors (-1..1), as the
// matcher's semantic calibration reads it. Vectors of different dimensions
// are unrelated (0).
func Similarity(a, b []float32) float64 {
	if len(a) != len(b) {
		return 0
	}
	var dot float32
	for i := range a {
		dot += float32(a[i] * b[i])
	}
	return min(max(float64(dot), -1), 1)
}
