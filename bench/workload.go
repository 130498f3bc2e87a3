package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"tessera/guest"
	"tessera/loader"
)

// Workload is one function and the request it is called with.
type Workload struct {
	Name        string // noop, matmul1, matmul128
	Guest       string // the guest binary it runs
	InputSets   []string
	OutputSets  []string
	ContextSize uint64
	// Inputs marshals the request; its cost is the "marshal" phase.
	Inputs func() []loader.Set
	// Check validates the outputs of a call.
	Check func(*loader.Outputs) error
}

// Workloads are the functions sandboxbench knows, in report order.
var Workloads = []Workload{
	{
		Name: "noop", Guest: "noop", ContextSize: 2 << 20,
		Inputs: func() []loader.Set { return nil },
		Check:  func(*loader.Outputs) error { return nil },
	},
	matmulWorkload("matmul1", 1),
	matmulWorkload("matmul128", 128),
}

// WorkloadByName returns the named workload.
func WorkloadByName(name string) (Workload, bool) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// matmulWorkload multiplies an n×n int64 matrix by its transpose, as in the
// Dandelion paper's compute benchmark. The matrix holds i+j at (i, j).
func matmulWorkload(name string, n int) Workload {
	return Workload{
		Name: name, Guest: "matmul", InputSets: []string{"matrix"}, OutputSets: []string{"out"},
		ContextSize: 8 << 20,
		Inputs: func() []loader.Set {
			b := make([]byte, 8+8*n*n)
			binary.LittleEndian.PutUint64(b, uint64(n))
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					binary.LittleEndian.PutUint64(b[8+8*(i*n+j):], uint64(i+j))
				}
			}
			return []loader.Set{{Ident: "matrix", Items: []loader.Item{{Ident: "m", Data: b}}}}
		},
		Check: func(o *loader.Outputs) error {
			s := o.Set("out")
			if s == nil || len(s.Items) != 1 {
				return fmt.Errorf("matmul: want one output item, got %+v", o.Sets)
			}
			want := make([]byte, 8+8*n*n)
			binary.LittleEndian.PutUint64(want, uint64(n))
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					var sum uint64
					for k := 0; k < n; k++ {
						sum += uint64(i+k) * uint64(j+k)
					}
					binary.LittleEndian.PutUint64(want[8+8*(i*n+j):], sum)
				}
			}
			if !bytes.Equal(s.Items[0].Data, want) {
				return fmt.Errorf("matmul %d×%d: wrong product", n, n)
			}
			return nil
		},
	}
}

// binaryFor reads the build of w's guest for arch.
func (w Workload) binaryFor(arch string) ([]byte, error) {
	return guest.Read(arch, w.Guest)
}
