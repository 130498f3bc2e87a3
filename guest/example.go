package guest

import (
	"bytes"
	"errors"
	"fmt"

	"tessera/loader"
)

// Example is one call of an example function together with what it must
// produce. Inputs and expected outputs are computed in Go, independently of
// the C sources, so a backend (or hlibc) that gets them wrong is caught.
type Example struct {
	Name       string   // unique: "function" or "function/variant"
	Function   string   // the guest to run
	InputSets  []string // declared input sets, in ABI order
	OutputSets []string // declared output sets, in ABI order
	Inputs     []loader.Set
	// Status is the exit status the call must end with; a nonzero one
	// must come back as a *loader.ExitError together with the outputs.
	Status int
	// Want holds the expected contents of some output sets. A set named
	// "stdio" is compared item by item by name, an absent item counting
	// as empty (backends differ in whether they create empty stdout and
	// stderr items, and in which one comes first); any other set must
	// match exactly: identifiers, keys and data, in order.
	Want []loader.Set
	// Check, if set, inspects the outputs further (for example decoding
	// PNG images rather than comparing bytes).
	Check func(got []loader.Set) error
	// NativeOnly marks examples that test hlibc itself rather than
	// portable C (they do not run on wasm32).
	NativeOnly bool
}

// Errors Verify reports, so callers can tell the kind of mismatch.
var (
	ErrStatus = errors.New("wrong outcome")
	ErrOutput = errors.New("wrong output")
)

// Verify checks the outcome of running e: the error Run returned and the
// output sets (nil if there were none).
func (e *Example) Verify(got []loader.Set, runErr error) error {
	var exit *loader.ExitError
	switch {
	case e.Status == 0 && runErr != nil:
		return fmt.Errorf("%w: want success, got %v%s", ErrStatus, runErr, stderrOf(got))
	case e.Status != 0 && !errors.As(runErr, &exit):
		return fmt.Errorf("%w: want exit status %d, got %v", ErrStatus, e.Status, runErr)
	case e.Status != 0 && exit.Status != e.Status:
		return fmt.Errorf("%w: want exit status %d, got %d%s", ErrStatus, e.Status, exit.Status, stderrOf(got))
	}
	if len(got) != len(e.OutputSets) {
		return fmt.Errorf("%w: %d output sets, want %d (%q)", ErrOutput, len(got), len(e.OutputSets), e.OutputSets)
	}
	for i, name := range e.OutputSets {
		if got[i].Ident != name {
			return fmt.Errorf("%w: output set %d is %q, want %q", ErrOutput, i, got[i].Ident, name)
		}
	}
	for _, want := range e.Want {
		g := findSet(got, want.Ident)
		var err error
		if want.Ident == "stdio" {
			err = compareByName(g, want)
		} else {
			err = compareExact(g, want)
		}
		if err != nil {
			return fmt.Errorf("%w: set %s: %v", ErrOutput, want.Ident, err)
		}
	}
	if e.Check != nil {
		if err := e.Check(got); err != nil {
			return fmt.Errorf("%w: %v", ErrOutput, err)
		}
	}
	return nil
}

func findSet(sets []loader.Set, name string) loader.Set {
	for _, s := range sets {
		if s.Ident == name {
			return s
		}
	}
	return loader.Set{Ident: name}
}

// Item returns the data of the named item of set, or nil.
func Item(sets []loader.Set, set, item string) []byte {
	for _, it := range findSet(sets, set).Items {
		if it.Ident == item {
			return it.Data
		}
	}
	return nil
}

func stderrOf(sets []loader.Set) string {
	if e := Item(sets, "stdio", "stderr"); len(e) > 0 {
		return fmt.Sprintf(" (stderr: %q)", e)
	}
	return ""
}

func compareExact(got, want loader.Set) error {
	for i := 0; i < len(got.Items) || i < len(want.Items); i++ {
		switch {
		case i >= len(got.Items):
			return fmt.Errorf("item %d %q missing", i, want.Items[i].Ident)
		case i >= len(want.Items):
			return fmt.Errorf("unexpected item %d %q", i, got.Items[i].Ident)
		}
		if err := compareItem(got.Items[i], want.Items[i]); err != nil {
			return fmt.Errorf("item %d: %v", i, err)
		}
	}
	return nil
}

func compareByName(got, want loader.Set) error {
	seen := map[string]bool{}
	for _, w := range want.Items {
		seen[w.Ident] = true
		g := loader.Item{Ident: w.Ident, Key: w.Key}
		for _, it := range got.Items {
			if it.Ident == w.Ident {
				g = it
			}
		}
		if err := compareItem(g, w); err != nil {
			return err
		}
	}
	for _, it := range got.Items {
		if !seen[it.Ident] && len(it.Data) > 0 {
			return fmt.Errorf("unexpected item %q: %q", it.Ident, clip(it.Data))
		}
	}
	return nil
}

func compareItem(got, want loader.Item) error {
	if got.Ident != want.Ident {
		return fmt.Errorf("identifier %q, want %q", got.Ident, want.Ident)
	}
	if got.Key != want.Key {
		return fmt.Errorf("%s: key %d, want %d", got.Ident, got.Key, want.Key)
	}
	if !bytes.Equal(got.Data, want.Data) {
		return fmt.Errorf("%s: %s", got.Ident, diff(got.Data, want.Data))
	}
	return nil
}

// diff describes where two byte strings first differ.
func diff(got, want []byte) string {
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	lo := max(0, i-40)
	return fmt.Sprintf("%d bytes, want %d; first difference at byte %d: got %q, want %q",
		len(got), len(want), i, clip(got[lo:min(len(got), i+40)]), clip(want[lo:min(len(want), i+40)]))
}

func clip(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}
