package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"tessera/internal/backends"
	"tessera/internal/sandbox"
	"tessera/loader"
)

// inputFlag collects -in SET/ITEM[#KEY]=@FILE|TEXT arguments.
type inputFlag struct{ sets []loader.Set }

func (f *inputFlag) String() string { return "" }

func (f *inputFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want SET/ITEM=@FILE or SET/ITEM=TEXT")
	}
	set, item, ok := strings.Cut(name, "/")
	if !ok || set == "" || item == "" {
		return fmt.Errorf("%q: want SET/ITEM before '='", name)
	}
	var key uint64
	if i := strings.LastIndexByte(item, '#'); i >= 0 {
		k, err := strconv.ParseUint(item[i+1:], 10, 64)
		if err != nil {
			return fmt.Errorf("%q: key after '#' must be a number: %v", name, err)
		}
		item, key = item[:i], k
	}
	data := []byte(value)
	if file, isFile := strings.CutPrefix(value, "@"); isFile {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		data = b
	}
	it := loader.Item{Ident: item, Key: key, Data: data}
	for i := range f.sets {
		if f.sets[i].Ident == set {
			f.sets[i].Items = append(f.sets[i].Items, it)
			return nil
		}
	}
	f.sets = append(f.sets, loader.Set{Ident: set, Items: []loader.Item{it}})
	return nil
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tessera run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var in inputFlag
	backend := fs.String("backend", "", "backend: kvm, seccomp, ptrace or wasm (default: the best one that runs here)")
	fs.Var(&in, "in", "input item `SET/ITEM[#KEY]=@FILE` (or =TEXT); repeatable")
	outputs := fs.String("outputs", "stdio", "comma-separated output `SETS` the function declares")
	inSets := fs.String("inputs", "", "comma-separated input `SETS` the function declares, in ABI order (default: the sets named by -in)")
	outDir := fs.String("out", "", "write each output item to `DIR`/SET/ITEM instead of printing a summary")
	timeout := fs.Duration("timeout", 10*time.Second, "stop the function after this long")
	ctxSize := fs.Uint64("context-size", loader.DefaultContextSize, "guest memory in `bytes`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tessera run [flags] BINARY")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	bin, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "tessera:", err)
		return 2
	}
	name := *backend
	if name == "" {
		if name, err = backends.Best(); err != nil {
			fmt.Fprintln(stderr, "tessera:", err)
			return 1
		}
	}
	b, err := backends.Open(name, backends.Options{Engines: 1, MaxContextSize: *ctxSize})
	if err != nil {
		fmt.Fprintln(stderr, "tessera:", err)
		return 1
	}
	defer b.Close()

	spec := sandbox.Spec{
		Name:        filepath.Base(fs.Arg(0)),
		Binary:      bin,
		ContextSize: *ctxSize,
		InputSets:   splitList(*inSets),
		OutputSets:  splitList(*outputs),
	}
	if spec.InputSets == nil {
		for _, s := range in.sets {
			spec.InputSets = append(spec.InputSets, s.Ident)
		}
	}
	fn, err := b.Load(spec)
	if err != nil {
		fmt.Fprintf(stderr, "tessera: loading %s for %s: %v\n", spec.Name, name, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	outs, runErr := fn.Run(ctx, in.sets)
	status := 0
	if outs != nil {
		defer outs.Release()
		if *outDir != "" {
			err = writeOutputs(*outDir, outs.Sets)
		} else {
			printSummary(stdout, outs.Sets)
		}
		if err != nil {
			fmt.Fprintln(stderr, "tessera:", err)
			status = 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "tessera: %s on %s: %v\n", spec.Name, name, runErr)
		status = 1
	}
	return status
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// itemPath maps an output item to a file below dir. Identifiers come from
// the guest, so anything that could leave dir is refused.
func itemPath(dir, set, item string) (string, error) {
	rel := filepath.Join(set, item)
	for _, part := range strings.Split(set+"/"+item, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("output %s/%s: identifier cannot be a path below %s", set, item, dir)
		}
	}
	if !filepath.IsLocal(rel) || strings.ContainsRune(rel, 0) {
		return "", fmt.Errorf("output %s/%s: identifier cannot be a path below %s", set, item, dir)
	}
	return filepath.Join(dir, rel), nil
}

func writeOutputs(dir string, sets []loader.Set) error {
	var errs []error
	for _, s := range sets {
		for _, it := range s.Items {
			p, err := itemPath(dir, s.Ident, it.Ident)
			if err == nil {
				err = os.MkdirAll(filepath.Dir(p), 0o755)
			}
			if err == nil {
				err = os.WriteFile(p, it.Data, 0o644)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func printSummary(w io.Writer, sets []loader.Set) {
	for _, s := range sets {
		if len(s.Items) == 0 {
			fmt.Fprintf(w, "%s: no items\n", s.Ident)
		}
		for _, it := range s.Items {
			fmt.Fprintf(w, "%s/%s (key %d, %d bytes)", s.Ident, it.Ident, it.Key, len(it.Data))
			if len(it.Data) > 0 && utf8.Valid(it.Data) {
				text := string(it.Data)
				if len(text) > 2000 {
					text = text[:2000] + "…"
				}
				fmt.Fprintf(w, ":\n%s", text)
				if !strings.HasSuffix(text, "\n") {
					fmt.Fprintln(w)
				}
			} else {
				fmt.Fprintln(w)
			}
		}
	}
}

func backendsCmd(w io.Writer) int {
	avail := backends.Available()
	if len(avail) == 0 {
		_, err := backends.Best()
		fmt.Fprintln(w, err)
		return 1
	}
	fmt.Fprintln(w, strings.Join(avail, "\n"))
	return 0
}
