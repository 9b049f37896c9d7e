package gnss

import "math"

// cholesky factors the n×n symmetric positive-definite matrix a (row-major,
// lower triangle used) in place into L with a = L·Lᵀ. It reports false when a
// is not numerically positive definite.
func cholesky(a []float64, n int) bool {
	for j := range n {
		d := a[j*n+j]
		for k := range j {
			d -= a[j*n+k] * a[j*n+k]
		}
		if !(d > 1e-12*math.Abs(a[j*n+j])) {
			return false
		}
		d = math.Sqrt(d)
		a[j*n+j] = d
		for i := j + 1; i < n; i++ {
			s := a[i*n+j]
			for k := range j {
				s -= a[i*n+k] * a[j*n+k]
			}
			a[i*n+j] = s / d
		}
	}
	return true
}

// cholSolve solves L·Lᵀ·x = b in place (b becomes x) for a factor from cholesky.
func cholSolve(l []float64, n int, b []float64) {
	for i := range n {
		s := b[i]
		for k := range i {
			s -= l[i*n+k] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := b[i]
		for k := i + 1; k < n; k++ {
			s -= l[k*n+i] * b[k]
		}
		b[i] = s / l[i*n+i]
	}
}

// cholInverse writes (L·Lᵀ)⁻¹ into inv (n×n) using col as scratch (length n).
func cholInverse(l []float64, n int, inv, col []float64) {
	for j := range n {
		for i := range col[:n] {
			col[i] = 0
		}
		col[j] = 1
		cholSolve(l, n, col)
		for i := range n {
			inv[i*n+j] = col[i]
		}
	}
}
