package guest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Architectures the guests are built for. The x86-64-v3 and -v4 builds are
// Mosaic-style hardware-specialised variants of the same sources.
const (
	X86_64   = "x86-64"
	X86_64v3 = "x86-64-v3"
	X86_64v4 = "x86-64-v4"
	Wasm32   = "wasm32"
	Debug    = "debug" // native Linux programs reading and writing real folders
)

// ErrNotBuilt means the guests have not been built; run `make guests`.
var ErrNotBuilt = errors.New("guest not built (run `make guests`)")

// NativeArches are the builds that run on the native backends: the same
// sources for generic x86-64 and the Mosaic-style -v3 and -v4 variants.
var NativeArches = []string{X86_64, X86_64v3, X86_64v4}

// IsNative reports whether arch is one of NativeArches.
func IsNative(arch string) bool {
	for _, a := range NativeArches {
		if a == arch {
			return true
		}
	}
	return false
}

// Names of the built guests (guest/guest.mk builds exactly these).
var (
	// ExampleNames are the example functions, built for every arch.
	ExampleNames = []string{"noop", "basic", "busy", "stdio", "fileio", "matmul", "matmac",
		"qoi2png", "access", "fanout", "render", "wordcount_map", "wordcount_reduce"}
	// CheckNames are test functions built for the native arches and debug.
	CheckNames = []string{"selftest"}
	// HostileNames are the hostile functions, built for X86_64 only.
	HostileNames = []string{"hostile_syscall", "hostile_sysenter", "hostile_int80",
		"hostile_null_write", "hostile_far_write", "hostile_code_write", "hostile_exec_heap",
		"hostile_exec_stack", "hostile_exec_data", "hostile_exec_input", "hostile_hlt",
		"hostile_cli", "hostile_in", "hostile_out", "hostile_cr3", "hostile_ud2", "hostile_int3",
		"hostile_div0", "hostile_loop", "hostile_stack_overflow", "hostile_forge_bufs",
		"hostile_forge_len", "hostile_forge_ident", "hostile_forge_count",
		"hostile_forge_sets_len", "hostile_exit3", "hostile_int20", "hostile_archprctl",
		"hostile_scribble", "hostile_scan"}
)

// Required reports whether a missing guest should fail a test rather than
// skip it: `make test` sets TESSERA_REQUIRE_GUESTS=1 after building them,
// so a build that silently produced nothing cannot pass.
func Required() bool { return os.Getenv("TESSERA_REQUIRE_GUESTS") == "1" }

// Root returns the module root: the nearest directory above the working
// directory holding go.mod, or $TESSERA_ROOT if set.
func Root() (string, error) {
	if r := os.Getenv("TESSERA_ROOT"); r != "" {
		return r, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("guest: no go.mod above the working directory; set TESSERA_ROOT")
		}
		dir = parent
	}
}

// Dir returns the directory holding the built guests for arch.
func Dir(arch string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "build", "guests", arch), nil
}

// Path returns the path of the built guest name for arch (Wasm guests carry
// a .wasm suffix, which Path adds).
func Path(arch, name string) (string, error) {
	dir, err := Dir(arch)
	if err != nil {
		return "", err
	}
	if arch == Wasm32 {
		name += ".wasm"
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%w: %s", ErrNotBuilt, p)
	}
	return p, nil
}

// Read returns the bytes of the built guest name for arch.
func Read(arch, name string) ([]byte, error) {
	p, err := Path(arch, name)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
}
