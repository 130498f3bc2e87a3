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
