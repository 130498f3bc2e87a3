// Command goguest is a compute function written in Go and built with
// GOOS=wasip1 GOARCH=wasm: it follows the same folder convention as the C
// guests. It writes every file under /in upper-cased to the same path under
// /out, lists them on stdout, copies stdin to stderr and exits with the
// status given as its first argument.
package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
)

func main() {
	err := fs.WalkDir(os.DirFS("/in"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path.Join("/in", p))
		if err != nil {
			return err
		}
		out := path.Join("/out", p)
		if err := os.MkdirAll(path.Dir(out), 0o755); err != nil {
			return err
		}
		fmt.Printf("%s %d\n", p, len(b))
		return os.WriteFile(out, bytes.ToUpper(b), 0o644)
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "goguest:", err)
		os.Exit(1)
	}
	if _, err := os.Create("/in/x"); err == nil {
		fmt.Println("created a file in an input folder")
	}
	io.Copy(os.Stderr, os.Stdin)
	status := 0
	if len(os.Args) > 1 {
		status, _ = strconv.Atoi(os.Args[1])
	}
	os.Exit(status)
}
