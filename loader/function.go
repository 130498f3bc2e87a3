package loader

import "fmt"

// Function is a compute function ready to run on a native backend: its
// parsed image and the ABI metadata it was registered with.
type Function struct {
	Name        string
	Image       *Image
	ContextSize uint64   // bytes of guest memory per call
	StackSize   uint64   // 0: DefaultStackSize(ContextSize)
	InputSets   []string // input set names, in ABI order
	OutputSets  []string // output set names, in ABI order
}

// DefaultContextSize is the context size used when none is given.
const DefaultContextSize = 16 << 20

// Check verifies that the function can be laid out at all, so that a
// registration fails early rather than every call.
func (f *Function) Check() error {
	if f.Image == nil {
		return fmt.Errorf("loader: function %q has no image", f.Name)
	}
	_, err := PlanLayout(f.Image, f.ContextSize, SetupOptions{StackSize: f.StackSize})
	return err
}

// MatchInputs orders the sets of a request by the function's declared input
// sets. Sets the request does not supply become empty sets; a request set
// the function does not declare is an error.
func (f *Function) MatchInputs(sets []Set) ([]Set, error) {
	out := make([]Set, len(f.InputSets))
	for i, name := range f.InputSets {
		out[i].Ident = name
	}
	for _, s := range sets {
		i := indexOf(f.InputSets, s.Ident)
		if i < 0 {
			return nil, fmt.Errorf("loader: function %q has no input set %q (it declares %q)", f.Name, s.Ident, f.InputSets)
		}
		out[i].Items = append(out[i].Items, s.Items...)
	}
	return out, nil
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}
