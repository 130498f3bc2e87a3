package conformance_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"tessera/guest"
	"tessera/internal/sandbox"
	"tessera/loader"
)

// debugBackend runs the debug builds of the guests (build/guests/debug) as
// plain Linux processes, with their sets in temporary folders, through the
// debug platform's conventions (TESSERA_IN, TESSERA_OUT, TESSERA_OUTPUTS,
// <set>.keys files; see hlibc/src/debug.c). It isolates nothing: it exists
// to prove the conformance suite, and to check every example's output in
// native debug mode.
//
// A call without a stdio/argv item gets an empty one, as the debug platform
// otherwise makes the command line argv: the function sees argc 0, as in a
// sandbox, and (unlike there) a file /stdio/argv.
type debugBackend struct{ dir string }

func (b *debugBackend) Name() string { return "debug" }
func (b *debugBackend) Close() error { return nil }

func (b *debugBackend) Load(spec sandbox.Spec) (sandbox.Function, error) {
	path, err := writeExecutable(b.dir, spec)
	if err != nil {
		return nil, err
	}
	return &debugFunction{b: b, spec: spec, path: path}, nil
}

// writeExecutable saves a function's binary as an executable file in dir.
func writeExecutable(dir string, spec sandbox.Spec) (string, error) {
	f, err := os.CreateTemp(dir, spec.Name+"-*")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(spec.Binary); err != nil {
		return "", err
	}
	return f.Name(), f.Chmod(0o755)
}

type debugFunction struct {
	b    *debugBackend
	spec sandbox.Spec
	path string
}

// escapeIdent and unescapeIdent implement the .keys line format: a
// backslash and a newline in an identifier are written as \\ and \n.
func escapeIdent(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func unescapeIdent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			if s[i] == 'n' {
				b.WriteByte('\n')
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// writeSets lays the input sets out as TESSERA_IN expects: one folder per
// declared set (empty ones too, as a sandbox shows them) and a .keys file
// giving every item's key in order.
func (f *debugFunction) writeSets(dir string, inputs []loader.Set) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, name := range f.spec.InputSets {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return err
		}
	}
	for _, s := range inputs {
		if !contains(f.spec.InputSets, s.Ident) {
			return fmt.Errorf("debug backend: %s declares no input set %q", f.spec.Name, s.Ident)
		}
		var keys bytes.Buffer
		for _, it := range s.Items {
			p := filepath.Join(dir, s.Ident, it.Ident)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, it.Data, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(&keys, "%d %s\n", it.Key, escapeIdent(it.Ident))
		}
		if err := os.WriteFile(filepath.Join(dir, s.Ident+".keys"), keys.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// readSets reads the output sets back in the order TESSERA_OUT/<set>.keys
// lists their items.
func (f *debugFunction) readSets(dir string) ([]loader.Set, error) {
	var sets []loader.Set
	for _, name := range f.spec.OutputSets {
		s := loader.Set{Ident: name}
		keys, err := os.ReadFile(filepath.Join(dir, name+".keys"))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(keys))
		for sc.Scan() {
			k, ident, ok := strings.Cut(sc.Text(), " ")
			key, err := strconv.ParseUint(k, 10, 64)
			if !ok || err != nil {
				return nil, fmt.Errorf("debug backend: %s.keys: bad line %q", name, sc.Text())
			}
			ident = unescapeIdent(ident)
			data, err := os.ReadFile(filepath.Join(dir, name, ident))
			if err != nil {
				return nil, err
			}
			s.Items = append(s.Items, loader.Item{Ident: ident, Key: key, Data: data})
		}
		sets = append(sets, s)
	}
	return sets, nil
}

func (f *debugFunction) Run(ctx context.Context, inputs []loader.Set) (*loader.Outputs, error) {
	dir, err := os.MkdirTemp(f.b.dir, "call-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := f.writeSets(in, inputs); err != nil {
		return nil, err
	}
	if !hasArgv(inputs) {
		if err := os.MkdirAll(filepath.Join(in, "stdio"), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(in, "stdio", "argv"), nil, 0o644); err != nil {
			return nil, err
		}
	}
	heap := f.spec.ContextSize
	if heap == 0 {
		heap = loader.DefaultContextSize
	}
	cmd := exec.CommandContext(ctx, f.path)
	cmd.Env = []string{
		"TESSERA_IN=" + in, "TESSERA_OUT=" + out, "TESSERA_QUIET=1",
		"TESSERA_OUTPUTS=" + strings.Join(f.spec.OutputSets, ","),
		"TESSERA_HEAP=" + strconv.FormatUint(heap, 10),
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %v", loader.ErrTimeout, err)
		}
		return nil, fmt.Errorf("%w: %v", loader.ErrCanceled, err)
	case errors.As(err, &exit):
		ws := exit.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return nil, fmt.Errorf("%w: %v", loader.ErrFault, ws.Signal())
		}
		// Status 125 with a message is the debug platform's own failure
		// (hlibc/src/debug.c): TESSERA_QUIET=1 keeps the function's own
		// writes off the real stderr, so a function that exits with 125
		// itself leaves no message.
		if ws.ExitStatus() == 125 && bytes.Contains(stderr.Bytes(), []byte("tessera debug: ")) {
			return nil, fmt.Errorf("debug backend: %s", stderr.Bytes())
		}
	case err != nil:
		return nil, err
	}
	sets, rerr := f.readSets(out)
	if rerr != nil {
		return nil, rerr
	}
	if exit != nil {
		return loader.NewOutputs(sets), &loader.ExitError{Status: exit.ExitCode()}
	}
	return loader.NewOutputs(sets), nil
}

// hasArgv reports whether inputs hold a stdio/argv item.
func hasArgv(inputs []loader.Set) bool {
	for _, s := range inputs {
		for _, it := range s.Items {
			if s.Ident == "stdio" && it.Ident == "argv" {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestDebugBackendStatus125 checks that the debug backend tells a
// function's own exit status 125 from a failure of the debug platform,
// which exits with 125 too but prints why. Shell scripts stand in for the
// function.
func TestDebugBackendStatus125(t *testing.T) {
	b := &debugBackend{dir: t.TempDir()}
	run := func(script string) (*loader.Outputs, error) {
		fn, err := b.Load(sandbox.Spec{Name: "script", Binary: []byte("#!/bin/sh\n" + script), OutputSets: []string{"stdio"}})
		if err != nil {
			t.Fatal(err)
		}
		return fn.Run(context.Background(), nil)
	}
	// The function's own status: its outputs come back with it.
	outs, err := run(`mkdir -p "$TESSERA_OUT/stdio" && echo hi >"$TESSERA_OUT/stdio/stdout" && echo "0 stdout" >"$TESSERA_OUT/stdio.keys"; exit 125`)
	var exit *loader.ExitError
	if !errors.As(err, &exit) || exit.Status != 125 {
		t.Errorf("function's own status 125: got %v, want *loader.ExitError with status 125", err)
	}
	if outs == nil {
		t.Fatal("function's own status 125: no outputs")
	}
	if got := string(guest.Item(outs.Sets, "stdio", "stdout")); got != "hi\n" {
		t.Errorf("stdout %q, want \"hi\\n\"", got)
	}
	// The debug platform's failure: no outputs, and the message.
	outs, err = run(`echo "tessera debug: cannot open TESSERA_IN /nowhere 2" >&2; exit 125`)
	if outs != nil || err == nil || errors.As(err, &exit) || !strings.Contains(err.Error(), "cannot open TESSERA_IN") {
		t.Errorf("debug platform failure: got outputs %v, error %v", outs, err)
	}
}

// TestDebugCommandLine checks that without a stdio/argv item the command
// line becomes argv (docs/ABI.md §6.2), the program name alone included.
func TestDebugCommandLine(t *testing.T) {
	path, err := guest.Path(guest.Debug, "stdio")
	if errors.Is(err, guest.ErrNotBuilt) && !guest.Required() {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"a b", ""}} {
		out := t.TempDir()
		cmd := exec.Command(path, args...)
		cmd.Env = []string{"TESSERA_OUT=" + out, "TESSERA_QUIET=1"}
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %q: %v\n%s", path, args, err, msg)
		}
		got, err := os.ReadFile(filepath.Join(out, "stdio", "stdout"))
		if err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for i, a := range append([]string{path}, args...) {
			fmt.Fprintf(&want, "argv[%d]=%s\n", i, a)
		}
		want.WriteString("stdin:\n")
		if string(got) != want.String() {
			t.Errorf("%s %q: stdout %q, want %q", path, args, got, want.String())
		}
	}
}
