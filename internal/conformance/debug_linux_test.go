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

	"tessera/internal/sandbox"
	"tessera/loader"
)

// debugBackend runs the debug builds of the guests (build/guests/debug) as
// plain Linux processes, with their sets in temporary folders, through the
// debug platform's conventions (TESSERA_IN, TESSERA_OUT, TESSERA_OUTPUTS,
// <set>.keys files; see hlibc/src/debug.c). It isolates nothing: it exists
// to prove the conformance suite, and to check every example's output in
// native debug mode.
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
		if ws.ExitStatus() == 125 { // the debug platform could not set up
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
