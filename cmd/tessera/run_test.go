package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInputFlag(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "m.bin")
	if err := os.WriteFile(file, []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	var f inputFlag
	for _, v := range []string{"stdio/argv=prog -v", "in/a/b#7=@" + file, "stdio/stdin=x=y"} {
		if err := f.Set(v); err != nil {
			t.Fatalf("Set(%q): %v", v, err)
		}
	}
	if len(f.sets) != 2 || f.sets[0].Ident != "stdio" || len(f.sets[0].Items) != 2 || f.sets[1].Ident != "in" {
		t.Fatalf("sets %+v", f.sets)
	}
	if it := f.sets[0].Items[1]; it.Ident != "stdin" || string(it.Data) != "x=y" {
		t.Errorf("stdin item %+v", it)
	}
	if it := f.sets[1].Items[0]; it.Ident != "a/b" || it.Key != 7 || !bytes.Equal(it.Data, []byte{1, 2, 3}) {
		t.Errorf("file item %+v", it)
	}
	for _, bad := range []string{"noequals", "=x", "set=x", "/item=x", "set/=x", "s/i#k=x", "s/i=@/nonexistent/file"} {
		if err := f.Set(bad); err == nil {
			t.Errorf("Set(%q) accepted", bad)
		}
	}
}

func TestItemPath(t *testing.T) {
	ok := map[[2]string]string{
		{"out", "result"}:    "d/out/result",
		{"out", "a/b/c.txt"}: "d/out/a/b/c.txt",
	}
	for in, want := range ok {
		got, err := itemPath("d", in[0], in[1])
		if err != nil || got != want {
			t.Errorf("itemPath(%q, %q) = %q, %v; want %q", in[0], in[1], got, err, want)
		}
	}
	for _, bad := range [][2]string{
		{"out", "../../etc/passwd"}, {"out", "/etc/passwd"}, {"out", ""}, {"out", "a//b"},
		{"out", "a/./b"}, {"..", "x"}, {"out", "a/.."}, {"out", "nul\x00byte"},
	} {
		if p, err := itemPath("d", bad[0], bad[1]); err == nil {
			t.Errorf("itemPath(%q, %q) = %q, want an error", bad[0], bad[1], p)
		}
	}
}

func TestUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := tessera(nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "usage") {
		t.Errorf("no args: code %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	if code := tessera([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Errorf("unknown command: code %d", code)
	}
	errb.Reset()
	if code := tessera([]string{"run"}, &out, &errb); code != 2 {
		t.Errorf("run without binary: code %d", code)
	}
	errb.Reset()
	if code := tessera([]string{"run", "-backend", "nosuch", "/proc/self/exe"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no backend \"nosuch\"") {
		t.Errorf("unknown backend: code %d, stderr %q", code, errb.String())
	}
}
