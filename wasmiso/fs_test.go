package wasmiso

import (
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"tessera/loader"
)

// The file system on its own, through the calls wazero's WASI layer makes
// (paths relative to the root, as wazero passes them).

func newFS(t *testing.T, budget int64, inputs []loader.Set, outputs ...string) *memFS {
	t.Helper()
	f := &memFS{}
	f.init(inputs, outputs, budget)
	f.build()
	return f
}

const (
	rd = experimentalsys.O_RDONLY
	wr = experimentalsys.O_WRONLY
)

func create(t *testing.T, f *memFS, p, data string) {
	t.Helper()
	file, errno := f.OpenFile(p, wr|experimentalsys.O_CREAT|experimentalsys.O_TRUNC, 0o644)
	if errno != 0 {
		t.Fatalf("create %s: %v", p, errno)
	}
	if n, errno := file.Write([]byte(data)); errno != 0 || n != len(data) {
		t.Fatalf("write %s: %d, %v", p, n, errno)
	}
}

// items lists the outputs as "set/ident=data" in order.
func items(f *memFS, outputs ...string) []string {
	var got []string
	for _, s := range f.collect(outputs) {
		for _, it := range s.Items {
			got = append(got, s.Ident+"/"+it.Ident+"="+string(it.Data))
		}
	}
	return got
}

func list(t *testing.T, f *memFS, dir string) []string {
	t.Helper()
	d, errno := f.OpenFile(dir, rd|experimentalsys.O_DIRECTORY, 0)
	if errno != 0 {
		t.Fatalf("open %s: %v", dir, errno)
	}
	ents, _ := d.Readdir(-1)
	var names []string
	for _, e := range ents {
		suffix := ""
		switch {
		case e.Type.IsDir():
			suffix = "/"
		case e.Type&fs.ModeCharDevice != 0:
			suffix = "!"
		}
		names = append(names, e.Name+suffix)
	}
	return names
}

func TestFSReadInput(t *testing.T) {
	data := []byte("0123456789")
	f := newFS(t, 1<<20, []loader.Set{{Ident: "in", Items: []loader.Item{{Ident: "a/b", Data: data}}}})
	file, errno := f.OpenFile("in/a/b", rd, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	buf := make([]byte, 4)
	if n, _ := file.Pread(buf, 3); string(buf[:n]) != "3456" {
		t.Errorf("pread = %q", buf[:n])
	}
	if pos, errno := file.Seek(-2, io.SeekEnd); errno != 0 || pos != 8 {
		t.Errorf("seek = %d, %v", pos, errno)
	}
	if n, _ := file.Read(buf); string(buf[:n]) != "89" {
		t.Errorf("read after seek = %q", buf[:n])
	}
	if n, errno := file.Read(buf); n != 0 || errno != 0 {
		t.Errorf("read at EOF = %d, %v", n, errno)
	}
	if _, errno := file.Write([]byte("x")); errno != experimentalsys.EBADF {
		t.Errorf("write to a read-only descriptor = %v, want EBADF", errno)
	}
	if _, errno := f.OpenFile("in/a/b/", rd, 0); errno != experimentalsys.ENOTDIR {
		t.Errorf("trailing slash on a file = %v, want ENOTDIR", errno)
	}
	if _, errno := f.OpenFile("in/a/b/c", rd, 0); errno != experimentalsys.ENOTDIR {
		t.Errorf("a file as a folder = %v, want ENOTDIR", errno)
	}
	st, _ := f.Stat("in/a/b")
	if st.Size != 10 || st.Mode.Perm() != 0o444 || st.Nlink != 1 {
		t.Errorf("stat = %+v", st)
	}
	if st, _ := f.Stat("in/a"); !st.Mode.IsDir() || st.Mode.Perm() != 0o555 {
		t.Errorf("input folder mode %v", st.Mode)
	}
}

// TestFSInputNames: identifiers become paths by hlibc's rules: empty and
// "." components are dropped; ".." or over-long components, and names an
// earlier entry took, hide the item.
func TestFSInputNames(t *testing.T) {
	f := newFS(t, 1<<20, []loader.Set{set("in",
		"a", "1", "x//y", "2", "./dot", "3", "t/", "4", "d/./e", "5",
		"../up", "no", "s/../u", "no", "a", "duplicate", "a/under", "no", "x", "no",
		strings.Repeat("n", 256), "no", "ok/"+strings.Repeat("n", 255), "6")})
	// "s/../u" leaves an empty folder s behind, as hlibc's mkpath does.
	want := []string{"a", "x/", "dot", "t", "d/", "s/", "ok/"}
	if got := list(t, f, "in"); !slices.Equal(got, want) {
		t.Errorf("in lists %q, want %q", got, want)
	}
	for p, data := range map[string]string{"in/x/y": "2", "in/d/e": "5", "in/a": "1", "in/ok/" + strings.Repeat("n", 255): "6"} {
		file, errno := f.OpenFile(p, rd, 0)
		if errno != 0 {
			t.Errorf("%s: %v", p, errno)
			continue
		}
		b := make([]byte, 16)
		if n, _ := file.Read(b); string(b[:n]) != data {
			t.Errorf("%s = %q, want %q", p, b[:n], data)
		}
	}
}

// TestFSLayout: the root lists the input sets, the output sets, /tmp and
// /dev, in that order; a set shared by input and output is one folder;
// set names may nest.
func TestFSLayout(t *testing.T) {
	f := newFS(t, 1<<20, []loader.Set{set("stdio", "stdin", "x"), set("deep/in", "a", "1")}, "stdio", "out", "res/sub")
	if got, want := list(t, f, "."), []string{"stdio/", "deep/", "out/", "res/", "tmp/", "dev/"}; !slices.Equal(got, want) {
		t.Errorf("root lists %q, want %q", got, want)
	}
	if got := list(t, f, "dev"); !slices.Equal(got, []string{"null!"}) {
		t.Errorf("dev lists %q", got)
	}
	create(t, f, "res/sub/r", "R")
	create(t, f, "res/scratch", "no item") // above the set folder
	create(t, f, "stdio/new", "N")
	if got, want := items(f, "stdio", "out", "res/sub"), []string{"stdio/new=N", "res/sub/r=R"}; !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
	// Sets named tmp and dev take those names from the system entries.
	g := newFS(t, 1<<20, []loader.Set{set("tmp", "t", "1")}, "dev")
	if got := list(t, g, "."); !slices.Equal(got, []string{"tmp/", "dev/"}) {
		t.Errorf("root lists %q", got)
	}
	if got := list(t, g, "dev"); len(got) != 0 {
		t.Errorf("an output set dev got %q", got)
	}
	if _, errno := g.OpenFile("tmp/new", wr|experimentalsys.O_CREAT, 0); errno != experimentalsys.EROFS {
		t.Errorf("creating in an input set named tmp = %v", errno)
	}
}

func TestFSDevNull(t *testing.T) {
	f := newFS(t, 1<<20, nil)
	null, errno := f.OpenFile("dev/null", experimentalsys.O_RDWR|experimentalsys.O_TRUNC, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if n, errno := null.Write([]byte("vanishes")); n != 8 || errno != 0 {
		t.Errorf("write = %d, %v", n, errno)
	}
	if n, errno := null.Read(make([]byte, 4)); n != 0 || errno != 0 {
		t.Errorf("read = %d, %v", n, errno)
	}
	if st, _ := null.Stat(); st.Mode&fs.ModeCharDevice == 0 || st.Size != 0 {
		t.Errorf("stat = %+v", st)
	}
	if errno := f.Unlink("dev/null"); errno != experimentalsys.EROFS {
		t.Errorf("unlink /dev/null = %v", errno)
	}
	if _, errno := f.OpenFile("dev/other", wr|experimentalsys.O_CREAT, 0); errno != experimentalsys.EROFS {
		t.Errorf("create in /dev = %v", errno)
	}
}

func TestFSReadOnly(t *testing.T) {
	f := newFS(t, 1<<20, []loader.Set{set("in", "a", "x", "dir/b", "y")}, "out")
	for p, want := range map[string]experimentalsys.Errno{
		"in/new": experimentalsys.EROFS, "in/a": experimentalsys.EROFS, "in/dir/n": experimentalsys.EROFS,
		"nope/x": experimentalsys.ENOENT,
	} {
		if _, errno := f.OpenFile(p, wr|experimentalsys.O_CREAT, 0o644); errno != want {
			t.Errorf("create %s = %v, want %v", p, errno, want)
		}
	}
	for name, errno := range map[string]experimentalsys.Errno{
		"mkdir":  f.Mkdir("in/d", 0o755),
		"unlink": f.Unlink("in/a"),
		"rmdir":  f.Rmdir("in/dir"),
		"rename": f.Rename("in/a", "out/a"),
		"link":   f.Link("out/none", "in/x"),
	} {
		want := experimentalsys.EROFS
		if name == "link" {
			want = experimentalsys.ENOENT
		}
		if errno != want {
			t.Errorf("%s = %v, want %v", name, errno, want)
		}
	}
	// The root is writable scratch space, as in hlibc; /tmp too.
	create(t, f, "top", "scratch")
	create(t, f, "tmp/t", "scratch")
	if got := items(f, "out"); len(got) != 0 {
		t.Errorf("scratch files became items: %q", got)
	}
}

// TestFSItems: a file becomes an item when created, linked or renamed into
// an output folder (a rename counts as a new creation), and stops being
// one when removed. Folders cannot be renamed.
func TestFSItems(t *testing.T) {
	f := newFS(t, 1<<20, nil, "stdio", "out", "other")
	create(t, f, "out/first", "1")
	if errno := f.Mkdir("out/d", 0o755); errno != 0 {
		t.Fatal(errno)
	}
	create(t, f, "out/d/second", "2")
	create(t, f, "out/third", "3")
	create(t, f, "out/gone", "x")
	create(t, f, "tmp/scratch", "s")
	steps := []struct {
		op    func() experimentalsys.Errno
		want  experimentalsys.Errno
		errno uint16 // what the WASI wrapper will report instead of EIO
	}{
		{func() experimentalsys.Errno { return f.Rename("out/d", "out/e") }, experimentalsys.EIO, wasiEXDEV},
		{func() experimentalsys.Errno { return f.Rmdir("out") }, experimentalsys.EIO, wasiEBUSY},
		{func() experimentalsys.Errno { return f.Rmdir("out/d") }, experimentalsys.ENOTEMPTY, 0},
		{func() experimentalsys.Errno { return f.Unlink("out/d") }, experimentalsys.EISDIR, 0},
		{func() experimentalsys.Errno { return f.Rename("out/first", "out/d") }, experimentalsys.EISDIR, 0},
		{func() experimentalsys.Errno { return f.Rename("out/third", "out/first") }, 0, 0}, // replaces; now last
		// A file is at most one output item (docs/ABI.md §6): no second
		// name in an output folder, by link or by rename; elsewhere, yes.
		{func() experimentalsys.Errno { return f.Link("out/d/second", "other/twin") }, experimentalsys.EIO, wasiEMLINK},
		{func() experimentalsys.Errno { return f.Link("out/d/second", "tmp/twin") }, 0, 0},
		{func() experimentalsys.Errno { return f.Rename("tmp/twin", "other/twin") }, experimentalsys.EIO, wasiEMLINK},
		{func() experimentalsys.Errno { return f.Rename("tmp/scratch", "other/adopted") }, 0, 0},
		{func() experimentalsys.Errno { return f.Unlink("out/gone") }, 0, 0},
		{func() experimentalsys.Errno { return f.Unlink("out/gone") }, experimentalsys.ENOENT, 0},
		{func() experimentalsys.Errno { return f.Link("out/d", "out/dirlink") }, experimentalsys.EPERM, 0},
	}
	for i, s := range steps {
		f.errno = 0
		if errno := s.op(); errno != s.want || f.errno != s.errno {
			t.Errorf("step %d: %v (errno %d), want %v (%d)", i, errno, f.errno, s.want, s.errno)
		}
	}
	want := []string{"out/d/second=2", "out/first=3", "other/adopted=s"}
	if got := items(f, "stdio", "out", "other"); !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
	// Hard links share the file, and so its key and its link count.
	if st, _ := f.Stat("tmp/twin"); st.Nlink != 2 {
		t.Errorf("nlink = %d, want 2", st.Nlink)
	}
}

// TestFSBudget: files cannot grow past the budget (ENOMEM, as a full heap
// on a native backend); removing files gives their space back.
func TestFSBudget(t *testing.T) {
	f := newFS(t, 1000, nil, "out")
	file, errno := f.OpenFile("out/big", wr|experimentalsys.O_CREAT, 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	left := f.budget
	if _, errno := file.Write(make([]byte, left)); errno != 0 {
		t.Fatal(errno)
	}
	if _, errno := file.Write([]byte{1}); errno != experimentalsys.EIO || f.errno != wasiENOMEM || !f.exhausted {
		t.Errorf("write past the budget = %v (errno %d, exhausted %v)", errno, f.errno, f.exhausted)
	}
	if _, errno := file.Pwrite([]byte("x"), 1<<40); errno != experimentalsys.EIO {
		t.Errorf("sparse write far past the budget = %v", errno)
	}
	if errno := file.Truncate(10); errno != 0 {
		t.Fatal(errno)
	}
	if _, errno := file.Pwrite(make([]byte, 50), 10); errno != 0 {
		t.Errorf("write after truncate freed space = %v", errno)
	}
	// Removing the file gives back its entry; its 60 bytes stay taken
	// while the descriptor is open, and come back when it closes.
	if errno := f.Unlink("out/big"); errno != 0 {
		t.Fatal(errno)
	}
	if f.budget != 1000-60 {
		t.Errorf("budget after unlink, file still open = %d, want %d", f.budget, 1000-60)
	}
	if errno := file.Close(); errno != 0 {
		t.Fatal(errno)
	}
	if f.budget != 1000 {
		t.Errorf("budget after unlink and close = %d, want 1000", f.budget)
	}
	if _, errno := f.OpenFile("out/"+strings.Repeat("n", 256), wr|experimentalsys.O_CREAT, 0); errno != experimentalsys.ENAMETOOLONG {
		t.Errorf("over-long name = %v", errno)
	}
}

// TestFSBudgetHeld: a file removed while open keeps its bytes charged
// until its last descriptor closes, and truncating it gives back no more
// than was charged. (A guest held 512 MiB under a 16 MiB limit by writing,
// unlinking and keeping the descriptor, and unlink then ftruncate gave its
// bytes back twice.)
func TestFSBudgetHeld(t *testing.T) {
	const budget = 1 << 20
	f := newFS(t, budget, nil, "out")
	var open []experimentalsys.File
	for i := 0; ; i++ {
		file, errno := f.OpenFile("tmp/x", wr|experimentalsys.O_CREAT, 0o644)
		if errno != 0 {
			t.Fatal(errno)
		}
		open = append(open, file)
		if _, errno := file.Write(make([]byte, budget/4)); errno != 0 {
			if i != 3 || f.errno != wasiENOMEM {
				t.Fatalf("write %d failed: %v (errno %d), want the fourth to fail with ENOMEM", i, errno, f.errno)
			}
			f.Unlink("tmp/x")
			break
		}
		if i >= 3 {
			t.Fatalf("write %d of %d bytes fitted in a budget of %d", i, budget/4, budget)
		}
		if errno := f.Unlink("tmp/x"); errno != 0 {
			t.Fatal(errno)
		}
	}
	for _, file := range open {
		file.Close()
	}
	if f.budget != budget {
		t.Errorf("budget after closing everything = %d, want %d", f.budget, budget)
	}

	// unlink, then truncate: given back once.
	file, _ := f.OpenFile("out/y", wr|experimentalsys.O_CREAT, 0o644)
	file.Write(make([]byte, 100))
	steps := []func() experimentalsys.Errno{
		func() experimentalsys.Errno { return f.Unlink("out/y") },
		func() experimentalsys.Errno { return file.Truncate(0) },
		func() experimentalsys.Errno { return file.Close() },
		func() experimentalsys.Errno { return file.Close() }, // twice: nothing more
	}
	for i, step := range steps {
		if errno := step(); errno != 0 {
			t.Fatalf("step %d: %v", i, errno)
		}
		if f.budget > budget {
			t.Fatalf("step %d: budget %d, above the %d it started with", i, f.budget, budget)
		}
	}
	if f.budget != budget {
		t.Errorf("budget at the end = %d, want %d", f.budget, budget)
	}

	// A standard stream keeps its file: removing stdio/stdout gives
	// nothing back while the call can still write to it.
	g := newFS(t, budget, nil, "stdio")
	out := &stdStream{fs: g, name: "stdout"}
	out.Write(make([]byte, 1000))
	before := g.budget
	if errno := g.Unlink("stdio/stdout"); errno != 0 {
		t.Fatal(errno)
	}
	if got := g.budget - before; got >= 1000 {
		t.Errorf("unlinking stdout while bound gave back %d bytes", got)
	}
}

// TestFSSparse: writing past the end (or truncating up) fills the gap with
// zeros, also over bytes a truncation cut off; growing within the
// capacity a file already has allocates nothing.
func TestFSSparse(t *testing.T) {
	f := newFS(t, 1<<30, nil, "out")
	file, errno := f.OpenFile("out/s", wr|experimentalsys.O_CREAT, 0o644)
	if errno != 0 {
		t.Fatal(errno)
	}
	file.Write([]byte("abcdef"))
	file.Truncate(2)
	file.Pwrite([]byte("z"), 5)
	file.Truncate(8)
	if got := items(f, "out"); !slices.Equal(got, []string{"out/s=ab\x00\x00\x00z\x00\x00"}) {
		t.Errorf("items %q", got)
	}
	ino := &inode{data: make([]byte, 0, 1<<20)}
	if n := testing.AllocsPerRun(100, func() {
		ino.data = ino.data[:0]
		f.writeAt(ino, []byte("x"), 4096)
	}); n != 0 {
		t.Errorf("a write within the capacity allocated %v times", n)
	}
}

func TestFSItemLimit(t *testing.T) {
	f := newFS(t, 1<<30, nil, "out")
	f.items = itemMax - 1
	create(t, f, "out/last", "")
	f.errno = 0
	if _, errno := f.OpenFile("out/one-too-many", wr|experimentalsys.O_CREAT, 0); errno != experimentalsys.EIO || f.errno != wasiENOSPC {
		t.Errorf("item past the limit = %v (errno %d), want ENOSPC", errno, f.errno)
	}
	create(t, f, "tmp/scratch-is-fine", "")
}

// TestFSStdStreams: stdout and stderr are the files stdio/stdout and
// stdio/stderr, created on the first write, in the order written; stdin
// reads stdio/stdin.
func TestFSStdStreams(t *testing.T) {
	f := newFS(t, 1<<20, []loader.Set{set("stdio", "stdin", "input")}, "out", "stdio")
	in, out, errw := &stdStream{fs: f, name: "stdin"}, &stdStream{fs: f, name: "stdout"}, &stdStream{fs: f, name: "stderr"}
	if b, _ := io.ReadAll(in); string(b) != "input" {
		t.Errorf("stdin = %q", b)
	}
	if got := items(f, "out", "stdio"); len(got) != 0 {
		t.Errorf("items before any write: %q", got)
	}
	errw.Write([]byte("e1 "))
	out.Write([]byte("o"))
	errw.Write([]byte("e2"))
	if got, want := items(f, "out", "stdio"), []string{"stdio/stderr=e1 e2", "stdio/stdout=o"}; !slices.Equal(got, want) {
		t.Errorf("items %q, want %q", got, want)
	}
	// Without a stdio output set the streams are discarded and stdin is
	// empty.
	g := newFS(t, 1<<20, nil, "out")
	d := &stdStream{fs: g, name: "stdout"}
	if n, err := d.Write([]byte("lost")); n != 4 || err != nil {
		t.Errorf("discarded write = %d, %v", n, err)
	}
	if n, err := (&stdStream{fs: g, name: "stdin"}).Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Errorf("stdin without an item = %d, %v", n, err)
	}
	if got := items(g, "out"); len(got) != 0 {
		t.Errorf("items %q", got)
	}
}

func TestArgvEnviron(t *testing.T) {
	if got := argv([]byte("prog 'a b' c\x00d")); !slices.Equal(got, []string{"prog", "a b", "c"}) {
		t.Errorf("argv = %q", got)
	}
	if got := environ([]byte(`A=1 B= C =x D=e=f A=2 "E=with space"`)); !slices.Equal(got, []string{"A", "1", "B", "", "D", "e=f", "E", "with space"}) {
		t.Errorf("environ = %q", got)
	}
}
