//go:build linux && amd64

package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildCache(t *testing.T) {
	if _, err := StubPath(); err != nil {
		t.Skip(err) // no compiler
	}
	dir := t.TempDir()
	a, err := Build("floor.c", dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	// Content-addressed: the same source gives the same file, not rebuilt.
	b, err := Build("floor.c", dir)
	if err != nil || b != a {
		t.Fatalf("second build: %s, %v", b, err)
	}
	if fi2, _ := os.Stat(b); !fi2.ModTime().Equal(fi.ModTime()) {
		t.Error("the cached binary was rebuilt")
	}
	if !strings.HasPrefix(filepath.Base(a), "floor-") {
		t.Errorf("name %s", a)
	}
	// A binary others can write is refused, and so is a cache folder.
	if err := os.Chmod(a, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := checkBinary(a); err == nil {
		t.Error("a world-writable stub was accepted")
	}
	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o777)
	if _, err := Build("floor.c", shared); err == nil {
		t.Error("a world-writable cache folder was used")
	}
	if _, err := Build("nonexistent.c", dir); err == nil {
		t.Error("built a source that does not exist")
	}
}
