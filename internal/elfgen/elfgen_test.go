package elfgen

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// exit42 is: mov $231, %eax; mov $42, %edi; syscall.
var exit42 = []byte{0xb8, 0xe7, 0x00, 0x00, 0x00, 0xbf, 0x2a, 0x00, 0x00, 0x00, 0x0f, 0x05}

func TestMinimalIsWellFormed(t *testing.T) {
	bin := Minimal(exit42).Bytes()
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off%0x1000 != p.Vaddr%0x1000 {
			t.Errorf("segment at %#x has file offset %#x", p.Vaddr, p.Off)
		}
	}
	syms, err := f.Symbols()
	if err != nil || len(syms) != 1 || syms[0].Name != SystemDataSym {
		t.Fatalf("symbols %v, %v", syms, err)
	}
}

// TestMinimalRuns: the kernel itself accepts what elfgen writes.
func TestMinimalRuns(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("runs an x86-64 Linux executable")
	}
	path := filepath.Join(t.TempDir(), "exit42")
	if err := os.WriteFile(path, Minimal(exit42).Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	err := exec.Command(path).Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 42 {
		t.Fatalf("got %v, want exit status 42", err)
	}
}
