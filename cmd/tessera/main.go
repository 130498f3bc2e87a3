// Command tessera runs compute functions in tessera's sandboxes.
//
//	tessera run [-backend B] [-in SET/ITEM=@FILE|TEXT ...] [-outputs SETS]
//	            [-out DIR] [-timeout D] [-context-size N] BINARY
//	tessera backends
//
// run loads BINARY, places the inputs, runs it once in a fresh sandbox on
// the named backend and writes each output item to DIR/SET/ITEM, or prints
// a summary when -out is not given. A function that fails makes tessera exit
// with status 1 and the typed error on stderr.
package main

import (
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(tessera(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  tessera run [flags] BINARY   run a function once in a fresh sandbox
  tessera backends             list the backends that can run here

Run 'tessera run -h' for the flags of run.
`

func tessera(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runCmd(args[1:], stdout, stderr)
	case "backends":
		return backendsCmd(stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tessera: unknown command %q\n%s", args[0], usage)
	return 2
}
