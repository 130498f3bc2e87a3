package wasmiso

import (
	"io"
	"slices"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"

	"tessera/loader"
)

// The file system on its own, through the calls wazero's WASI layer makes.

func newFS(t *testing.T, budget int64, inputs []loader.Set, outputs ...string) *memFS {
	t.Helper()
	f := &memFS{}
	f.init(inputs, outputs, budget)
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

func collected(t *testing.T, f *memFS, outputs ...string) map[string]string {
	t.Helper()
	sets, err := f.collect(outputs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range sets {
		for _, it := range s.Items {
			got[s.Ident+"/"+it.Ident] = string(it.Data)
		}
	}
	return got
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
	if _, errno := f.OpenFile("in/a", rd|experimentalsys.O_DIRECTORY, 0); errno != 0 {
		t.Errorf("opening a folder = %v", errno)
	}
	// The input's bytes are the item's: nothing was copied.
	st, _ := f.Stat("in/a/b")
	if st.Size != 10 || st.Mode.Perm() != 0o444 {
		t.Errorf("stat = %+v", st)
	}
}

func TestFSReaddir(t *testing.T) {
	f := newFS(t, 1<<20, []loader.Set{set("in", "z", "1", "a", "2", "m/x", "3")}, "out")
	dir, errno := f.OpenFile(".", rd|experimentalsys.O_DIRECTORY, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	var names []string
	for {
		ents, errno := dir.Readdir(1)
		if errno != 0 {
			t.Fatal(errno)
		}
		if len(ents) == 0 {
			break
		}
		names = append(names, ents[0].Name)
	}
	if !slices.Equal(names, []string{"out", "in"}) {
		t.Errorf("root lists %q", names)
	}
	in, _ := f.OpenFile("in", rd|experimentalsys.O_DIRECTORY, 0)
	ents, _ := in.Readdir(10)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name+map[bool]string{true: "/", false: ""}[e.Type.IsDir()])
	}
	if !slices.Equal(got, []string{"z", "a", "m/"}) {
		t.Errorf("in lists %q, want creation order", got)
	}
	// Entries created while listing do not appear until the listing is
	// rewound.
	out, _ := f.OpenFile("out", rd|experimentalsys.O_DIRECTORY, 0)
	create(t, f, "out/one", "")
	first, _ := out.Readdir(10)
	create(t, f, "out/two", "")
	if more, _ := out.Readdir(10); len(first) != 1 || len(more) != 0 {
		t.Errorf("listing changed while read: %v then %v", first, more)
	}
	if _, errno := out.Seek(0, io.SeekStart); errno != 0 {
		t.Fatal(errno)
	}
	if all, _ := out.Readdir(10); len(all) != 2 {
		t.Errorf("after rewind: %v", all)
	}
}

func TestFSReadOnly(t *testing.T) {
	f := newFS(t, 1<<20, []loader.Set{set("in", "a", "x"), set("both", "input", "y")}, "both")
	for _, p := range []string{"in/new", "new", "in/a"} {
		if _, errno := f.OpenFile(p, wr|experimentalsys.O_CREAT, 0o644); errno != experimentalsys.EROFS {
			t.Errorf("create %s = %v, want EROFS", p, errno)
		}
	}
	if errno := f.Mkdir("in/d", 0o755); errno != experimentalsys.EROFS {
		t.Errorf("mkdir in an input set = %v", errno)
	}
	if errno := f.Unlink("in/a"); errno != experimentalsys.EROFS {
		t.Errorf("unlink input = %v", errno)
	}
	if errno := f.Rename("in/a", "both/a"); errno != experimentalsys.EROFS {
		t.Errorf("rename input = %v", errno)
	}
	if errno := f.Rmdir("both"); errno != experimentalsys.EROFS {
		t.Errorf("rmdir a set folder = %v", errno)
	}
	// A folder shared by an input and an output set: the input stays
	// read-only and is not an output; new files are.
	if _, errno := f.OpenFile("both/input", wr, 0); errno != experimentalsys.EROFS {
		t.Errorf("writing an input in a shared folder = %v", errno)
	}
	create(t, f, "both/new", "n")
	got := collected(t, f, "both")
	if len(got) != 1 || got["both/new"] != "n" {
		t.Errorf("outputs = %v", got)
	}
}

func TestFSRenameAndRemove(t *testing.T) {
	f := newFS(t, 1<<20, nil, "out", "other")
	create(t, f, "out/first", "1")
	if errno := f.Mkdir("out/d", 0o755); errno != 0 {
		t.Fatal(errno)
	}
	create(t, f, "out/d/second", "2")
	create(t, f, "out/third", "3")
	create(t, f, "out/gone", "x")
	steps := []struct {
		op   func() experimentalsys.Errno
		want experimentalsys.Errno
	}{
		{func() experimentalsys.Errno { return f.Rename("out/d", "out/d/sub") }, experimentalsys.EINVAL},
		{func() experimentalsys.Errno { return f.Rename("out/first", "out/d") }, experimentalsys.EISDIR},
		{func() experimentalsys.Errno { return f.Rmdir("out/d") }, experimentalsys.ENOTEMPTY},
		{func() experimentalsys.Errno { return f.Unlink("out/d") }, experimentalsys.EISDIR},
		{func() experimentalsys.Errno { return f.Rename("out/third", "out/first") }, 0}, // replaces
		{func() experimentalsys.Errno { return f.Rename("out/d", "other/moved") }, 0},   // across sets
		{func() experimentalsys.Errno { return f.Unlink("out/gone") }, 0},
		{func() experimentalsys.Errno { return f.Unlink("out/gone") }, experimentalsys.ENOENT},
	}
	for i, s := range steps {
		if errno := s.op(); errno != s.want {
			t.Errorf("step %d: %v, want %v", i, errno, s.want)
		}
	}
	got := collected(t, f, "out", "other")
	want := map[string]string{"out/first": "3", "other/moved/second": "2"}
	if len(got) != len(want) || got["out/first"] != "3" || got["other/moved/second"] != "2" {
		t.Errorf("outputs = %v, want %v", got, want)
	}
}

// TestFSCreationOrder: outputs come in the order their files were created,
// whatever their names and folders, and a rename keeps a file's place.
func TestFSCreationOrder(t *testing.T) {
	f := newFS(t, 1<<20, nil, "stdio", "out")
	f.Mkdir("out/z", 0o755)
	create(t, f, "out/z/late-name", "")
	create(t, f, "out/a", "")
	create(t, f, "out/tmp", "")
	f.Rename("out/tmp", "out/0")
	sets, err := f.collect([]string{"stdio", "out"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sets {
		for _, it := range s.Items {
			got = append(got, s.Ident+"/"+it.Ident)
		}
	}
	want := []string{"stdio/stdout", "stdio/stderr", "out/z/late-name", "out/a", "out/0"}
	if !slices.Equal(got, want) {
		t.Errorf("order %q, want %q", got, want)
	}
}

// TestFSBudget: output files cannot grow past the budget; removing files
// gives their space back.
func TestFSBudget(t *testing.T) {
	f := newFS(t, 100, nil, "out")
	file, _ := f.OpenFile("out/big", wr|experimentalsys.O_CREAT, 0o644) // 3 bytes of name
	if _, errno := file.Write(make([]byte, 90)); errno != 0 {
		t.Fatal(errno)
	}
	if _, errno := file.Write(make([]byte, 10)); errno != errNoSpace {
		t.Errorf("write past the budget = %v, want %v", errno, errNoSpace)
	}
	if !f.exhausted {
		t.Error("exhaustion not recorded")
	}
	if _, errno := file.Pwrite([]byte("x"), 1<<40); errno != errNoSpace {
		t.Errorf("sparse write far past the budget = %v", errno)
	}
	if errno := file.Truncate(10); errno != 0 {
		t.Fatal(errno)
	}
	if _, errno := file.Pwrite(make([]byte, 50), 10); errno != 0 {
		t.Errorf("write after truncate freed space = %v", errno)
	}
	if errno := f.Unlink("out/big"); errno != 0 {
		t.Fatal(errno)
	}
	if f.budget != 100 {
		t.Errorf("budget after unlink = %d, want 100", f.budget)
	}
	if _, errno := f.OpenFile("out/"+strings.Repeat("n", loader.MaxIdentLen), wr|experimentalsys.O_CREAT, 0); errno != experimentalsys.ENAMETOOLONG {
		t.Errorf("over-long name = %v", errno)
	}
}

func TestFSNodeLimit(t *testing.T) {
	f := newFS(t, 1<<30, nil, "out")
	f.nodes = 3
	for i, want := range []experimentalsys.Errno{0, 0, 0, errNoSpace} {
		if errno := f.Mkdir("out/"+string(rune('a'+i)), 0o755); errno != want {
			t.Errorf("mkdir %d = %v, want %v", i, errno, want)
		}
	}
}

func TestSplitWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  a  b\tc\n", []string{"a", "b", "c"}},
		{`'single quoted' "double quoted"`, []string{"single quoted", "double quoted"}},
		{`a"b c"d`, []string{"ab cd"}},
		{`back\ slash \"q\" \\`, []string{"back slash", `"q"`, `\`}},
		{`"in \"dq\" \\ \x"`, []string{`in "dq" \ x`}},
		{`'no \escape'`, []string{`no \escape`}},
		{`"" ''`, []string{"", ""}},
		{`"unterminated rest`, []string{"unterminated rest"}},
		{`trailing\`, []string{`trailing\`}},
		{"nul\x00cut next", []string{"nul", "next"}},
	}
	for _, c := range cases {
		if got := SplitWords(c.in); !slices.Equal(got, c.want) {
			t.Errorf("SplitWords(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := splitEnv([]string{"A=1", "B=", "C", "=x", "D=e=f"}); !slices.Equal(got, []string{"A", "1", "B", "", "D", "e=f"}) {
		t.Errorf("splitEnv = %q", got)
	}
}
