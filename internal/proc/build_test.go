//go:build linux && amd64

package proc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// An open stub is checked and run through its descriptor: what its path
// names afterwards does not matter.
func TestOpenStub(t *testing.T) {
	path := testStub(t)
	dir := t.TempDir()
	own := filepath.Join(dir, "stub")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, b, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := openStub(own)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var st1, st2 unix.Stat_t
	if err := unix.Stat(own, &st1); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "stub"), filepath.Join(dir, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(s.exec(), &st2); err != nil || st2.Ino != st1.Ino {
		t.Errorf("%s is inode %d (%v), want the opened stub's %d", s.exec(), st2.Ino, err, st1.Ino)
	}
	for _, bad := range []os.FileMode{0o777, 0o644} {
		os.Chmod(filepath.Join(dir, "old"), bad)
		if s, err := openStub(filepath.Join(dir, "old")); err == nil {
			s.close()
			t.Errorf("mode %v: accepted", bad)
		}
	}
}

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
	// ... even when it already holds a binary that looks right: anyone
	// could have put it there.
	if err := os.Chmod(a, 0o755); err != nil {
		t.Fatal(err)
	}
	want, _, err := cachePath("floor.c", shared)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Link(a, want); err != nil {
		t.Fatal(err)
	}
	if p, err := Build("floor.c", shared); err == nil {
		t.Errorf("a binary in a world-writable cache folder was used: %s", p)
	}
	if _, err := Build("nonexistent.c", dir); err == nil {
		t.Error("built a source that does not exist")
	}
}
