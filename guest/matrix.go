package guest

import (
	"encoding/binary"
	"fmt"
)

// Matrix is a square int64 matrix, the item format of matmul and matmac:
// [int64 rows][rows*rows int64], little-endian, row-major.
type Matrix struct {
	N int
	V []int64 // N*N elements
}

// NewMatrix returns an n×n matrix whose element (i, j) is f(i, j).
func NewMatrix(n int, f func(i, j int) int64) Matrix {
	m := Matrix{N: n, V: make([]int64, n*n)}
	for i := range n {
		for j := range n {
			m.V[i*n+j] = f(i, j)
		}
	}
	return m
}

// Bytes encodes m as an item.
func (m Matrix) Bytes() []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(m.N))
	for _, v := range m.V {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}

// DecodeMatrix parses an item.
func DecodeMatrix(b []byte) (Matrix, error) {
	if len(b) < 8 {
		return Matrix{}, fmt.Errorf("matrix: %d bytes", len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > 1<<15 || uint64(len(b)) != 8+8*n*n {
		return Matrix{}, fmt.Errorf("matrix: %d bytes for %d rows", len(b), n)
	}
	m := Matrix{N: int(n), V: make([]int64, n*n)}
	for i := range m.V {
		m.V[i] = int64(binary.LittleEndian.Uint64(b[8+8*i:]))
	}
	return m, nil
}

// Mul returns a·b (int64 arithmetic wraps, as in the guests).
func (a Matrix) Mul(b Matrix) Matrix {
	n := a.N
	return NewMatrix(n, func(i, j int) int64 {
		var s int64
		for k := range n {
			s += a.V[i*n+k] * b.V[k*n+j]
		}
		return s
	})
}

// Add returns a+b.
func (a Matrix) Add(b Matrix) Matrix {
	return NewMatrix(a.N, func(i, j int) int64 { return a.V[i*a.N+j] + b.V[i*a.N+j] })
}

// Transpose returns aᵀ.
func (a Matrix) Transpose() Matrix {
	return NewMatrix(a.N, func(i, j int) int64 { return a.V[j*a.N+i] })
}
