package wasmiso

import (
	"cmp"
	"io"
	"io/fs"
	"slices"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"

	"tessera/loader"
)

// The in-memory file system of one call (docs/ABI.md §6). It implements
// wazero's experimental sys.FS, which wazero's own WASI preview 1 host
// functions drive; see docs/wasm-backend.md for why.
//
// Layout: the root is read-only and holds one folder per set. Input items
// are read-only files whose bytes are the items' own (reads copy straight
// from them into guest memory). Files and folders created under an output
// set's folder are writable; at exit every regular file created there
// becomes an output item, in creation order. An input and an output set of
// the same name share one folder (stdio usually is both); only the files the
// function created there are outputs.

// node is a file or folder.
type node struct {
	name   string
	parent *node
	ino    uint64
	dir    bool
	// writable: for a folder, entries may be created and removed in it; for
	// a file, it is an output file (created by the function).
	writable bool

	children []*node          // folders: entries in creation order
	index    map[string]*node // folders with many entries: name -> child

	data []byte // files: an input item's bytes, or an output's contents
	key  uint64 // files: the item's key
	seq  uint64 // output files: creation order
}

// indexAbove is the number of entries above which a folder keeps a map.
const indexAbove = 16

func (n *node) child(name string) *node {
	if n.index != nil {
		return n.index[name]
	}
	for _, c := range n.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (n *node) add(c *node) {
	c.parent = n
	n.children = append(n.children, c)
	if n.index != nil {
		n.index[c.name] = c
	} else if len(n.children) > indexAbove {
		n.index = make(map[string]*node, 2*len(n.children))
		for _, x := range n.children {
			n.index[x.name] = x
		}
	}
}

func (n *node) remove(c *node) {
	if i := slices.Index(n.children, c); i >= 0 {
		n.children = slices.Delete(n.children, i, i+1)
	}
	if n.index != nil {
		delete(n.index, c.name)
	}
	c.parent = nil
}

// memFS is the file system of one call. It is used by one guest thread
// only (wasmiso runs no threads), so it needs no locking.
type memFS struct {
	experimentalsys.UnimplementedFS
	root    node
	nextIno uint64
	nextSeq uint64

	// budget is what output files may still take, in bytes of data and
	// names: like the native backends, outputs cannot exceed the context.
	budget int64
	// nodes is how many more files and folders may be created.
	nodes int
	// exhausted records that a write or creation failed for lack of
	// budget, so that a failing call can be reported as ErrMemoryLimit.
	exhausted bool

	outputs []*node // the output set folders, in declaration order
	stdout  *node   // stdio/stdout and stdio/stderr when stdio is an output set
	stderr  *node
	stdin   []byte // the stdio/stdin item, if any
	hasIn   bool
}

// errNoSpace is what a write past the output budget returns. wazero's errno
// set has no ENOSPC; EIO is what its WASI layer would map it to anyway.
const errNoSpace = experimentalsys.EIO

func (f *memFS) newNode(name string, dir, writable bool) *node {
	f.nextIno++
	return &node{name: name, ino: f.nextIno, dir: dir, writable: writable}
}

// init lays out the sets. Set names were checked by checkSetName.
func (f *memFS) init(inputs []loader.Set, outputs []string, budget int64) {
	f.root = node{dir: true, ino: 1}
	f.nextIno = 1
	f.budget = budget
	f.nodes = loader.MaxOutputItems
	f.outputs = f.outputs[:0]
	for _, name := range outputs {
		d := f.root.child(name)
		if d == nil {
			d = f.newNode(name, true, true)
			f.root.add(d)
		}
		f.outputs = append(f.outputs, d)
		if name == stdioSet {
			f.stdout = f.createFile(d, "stdout")
			f.stderr = f.createFile(d, "stderr")
		}
	}
	for _, s := range inputs {
		d := f.root.child(s.Ident)
		if d == nil {
			d = f.newNode(s.Ident, true, false)
			f.root.add(d)
		}
		for i := range s.Items {
			it := &s.Items[i]
			f.addInput(d, it)
			if s.Ident == stdioSet && it.Ident == "stdin" && !f.hasIn {
				f.stdin, f.hasIn = it.Data, true
			}
		}
	}
}

// addInput places an input item at its identifier under the set folder d.
// Items whose identifier is not a usable path (empty, ".", ".." or empty
// components) or collides with an earlier entry are not shown; they are
// still the function's inputs on the ABI level.
func (f *memFS) addInput(d *node, it *loader.Item) {
	rest := it.Ident
	for {
		comp, tail, more := strings.Cut(rest, "/")
		if comp == "" || comp == "." || comp == ".." || strings.IndexByte(comp, 0) >= 0 {
			return
		}
		c := d.child(comp)
		if !more {
			if c == nil {
				n := f.newNode(comp, false, false)
				n.data, n.key = it.Data, it.Key
				d.add(n)
			}
			return
		}
		if c == nil {
			c = f.newNode(comp, true, false)
			d.add(c)
		} else if !c.dir {
			return
		}
		d, rest = c, tail
	}
}

// createFile adds an empty output file, charging its name to the budget.
func (f *memFS) createFile(d *node, name string) *node {
	n := f.newNode(name, false, true)
	f.nextSeq++
	n.seq = f.nextSeq
	d.add(n)
	return n
}

// charge takes n bytes from the budget.
func (f *memFS) charge(n int64) bool {
	if n > f.budget {
		f.exhausted = true
		return false
	}
	f.budget -= n
	return true
}

// lookup resolves a path as wazero passes it: relative to the root,
// cleaned, possibly with a trailing slash.
func (f *memFS) lookup(p string) (*node, experimentalsys.Errno) {
	trailing := strings.HasSuffix(p, "/")
	n := &f.root
	for _, comp := range strings.Split(strings.Trim(p, "/"), "/") {
		switch comp {
		case "", ".":
			continue
		case "..":
			if n.parent != nil {
				n = n.parent
			}
			continue
		}
		if !n.dir {
			return nil, experimentalsys.ENOTDIR
		}
		c := n.child(comp)
		if c == nil {
			return nil, experimentalsys.ENOENT
		}
		n = c
	}
	if trailing && !n.dir {
		return nil, experimentalsys.ENOTDIR
	}
	return n, 0
}

// lookupParent resolves all but the last component of p.
func (f *memFS) lookupParent(p string) (*node, string, experimentalsys.Errno) {
	p = strings.TrimRight(p, "/")
	dir, base := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		dir, base = p[:i], p[i+1:]
	}
	if base == "" || base == "." || base == ".." {
		return nil, "", experimentalsys.EINVAL
	}
	d, errno := f.lookup(dir)
	if errno != 0 {
		return nil, "", errno
	}
	if !d.dir {
		return nil, "", experimentalsys.ENOTDIR
	}
	return d, base, 0
}

// relPath is n's path below its output set folder; ok is false if n is not
// inside one (removed, or an input).
func (f *memFS) relPath(n *node) (string, bool) {
	var parts []string
	for c := n; c != nil; c = c.parent {
		if c.parent == &f.root {
			slices.Reverse(parts)
			return strings.Join(parts, "/"), true
		}
		parts = append(parts, c.name)
	}
	return "", false
}

// create makes a file or folder called base in d.
func (f *memFS) create(d *node, base string, dir bool) (*node, experimentalsys.Errno) {
	if !d.writable {
		return nil, experimentalsys.EROFS
	}
	if prefix, _ := f.relPath(d); len(prefix)+1+len(base) > loader.MaxIdentLen {
		return nil, experimentalsys.ENAMETOOLONG
	}
	if f.nodes == 0 || !f.charge(int64(len(base))) {
		f.exhausted = true
		return nil, errNoSpace
	}
	f.nodes--
	if dir {
		n := f.newNode(base, true, true)
		d.add(n)
		return n, 0
	}
	return f.createFile(d, base), 0
}

func (f *memFS) OpenFile(p string, flag experimentalsys.Oflag, _ fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	acc := flag & (experimentalsys.O_RDONLY | experimentalsys.O_WRONLY | experimentalsys.O_RDWR)
	write := acc != experimentalsys.O_RDONLY || flag&experimentalsys.O_TRUNC != 0
	n, errno := f.lookup(p)
	switch {
	case errno == experimentalsys.ENOENT && flag&experimentalsys.O_CREAT != 0:
		d, base, errno := f.lookupParent(p)
		if errno != 0 {
			return nil, errno
		}
		if n, errno = f.create(d, base, false); errno != 0 {
			return nil, errno
		}
	case errno != 0:
		return nil, errno
	case flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0:
		return nil, experimentalsys.EEXIST
	case n.dir && write:
		return nil, experimentalsys.EISDIR
	case !n.dir && flag&experimentalsys.O_DIRECTORY != 0:
		return nil, experimentalsys.ENOTDIR
	case write && !n.writable:
		return nil, experimentalsys.EROFS
	}
	if flag&experimentalsys.O_TRUNC != 0 && !n.dir {
		f.budget += int64(len(n.data))
		n.data = n.data[:0]
	}
	return &openFile{
		fs: f, n: n,
		read:   acc != experimentalsys.O_WRONLY,
		write:  acc != experimentalsys.O_RDONLY,
		append: flag&experimentalsys.O_APPEND != 0,
	}, 0
}

func (f *memFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	n, errno := f.lookup(p)
	if errno != 0 {
		return sys.Stat_t{}, errno
	}
	return n.stat(), 0
}

// Lstat is Stat: there are no symbolic links.
func (f *memFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) { return f.Stat(p) }

func (f *memFS) Readlink(p string) (string, experimentalsys.Errno) {
	if _, errno := f.lookup(p); errno != 0 {
		return "", errno
	}
	return "", experimentalsys.EINVAL // exists, but is not a link
}

func (f *memFS) Mkdir(p string, _ fs.FileMode) experimentalsys.Errno {
	d, base, errno := f.lookupParent(p)
	if errno != 0 {
		return errno
	}
	if d.child(base) != nil {
		return experimentalsys.EEXIST
	}
	_, errno = f.create(d, base, true)
	return errno
}

func (f *memFS) Unlink(p string) experimentalsys.Errno {
	n, errno := f.lookup(p)
	if errno != 0 {
		return errno
	}
	if n.dir {
		return experimentalsys.EISDIR
	}
	if !n.writable || n.parent == nil || !n.parent.writable {
		return experimentalsys.EROFS
	}
	f.release(n)
	n.parent.remove(n)
	return 0
}

func (f *memFS) Rmdir(p string) experimentalsys.Errno {
	n, errno := f.lookup(p)
	if errno != 0 {
		return errno
	}
	if !n.dir {
		return experimentalsys.ENOTDIR
	}
	if n == &f.root || !n.writable || !n.parent.writable {
		return experimentalsys.EROFS // the root and the set folders stay
	}
	if len(n.children) > 0 {
		return experimentalsys.ENOTEMPTY
	}
	f.release(n)
	n.parent.remove(n)
	return 0
}

// release returns a removed entry's name and contents to the budget.
// Writes through a descriptor still open on it are charged again.
func (f *memFS) release(n *node) {
	f.budget += int64(len(n.name) + len(n.data))
	f.nodes++
}

func (f *memFS) Rename(from, to string) experimentalsys.Errno {
	src, errno := f.lookup(from)
	if errno != 0 {
		return errno
	}
	d, base, errno := f.lookupParent(to)
	if errno != 0 {
		return errno
	}
	if src == &f.root || !src.writable || !src.parent.writable || !d.writable {
		return experimentalsys.EROFS
	}
	for a := d; a != nil; a = a.parent {
		if a == src {
			return experimentalsys.EINVAL // into its own subtree
		}
	}
	dst := d.child(base)
	switch {
	case dst == src:
		return 0
	case dst == nil:
	case !dst.writable:
		return experimentalsys.EROFS
	case src.dir && !dst.dir:
		return experimentalsys.ENOTDIR
	case !src.dir && dst.dir:
		return experimentalsys.EISDIR
	case dst.dir && len(dst.children) > 0:
		return experimentalsys.ENOTEMPTY
	}
	if prefix, _ := f.relPath(d); len(prefix)+1+len(base) > loader.MaxIdentLen {
		return experimentalsys.ENAMETOOLONG
	}
	if !f.charge(int64(len(base))) {
		return errNoSpace
	}
	f.budget += int64(len(src.name))
	if dst != nil {
		f.release(dst)
		d.remove(dst)
	}
	src.parent.remove(src)
	src.name = base
	d.add(src)
	return 0
}

func (n *node) stat() sys.Stat_t {
	st := sys.Stat_t{Dev: 1, Ino: n.ino, Nlink: 1, Size: int64(len(n.data))}
	switch {
	case n.dir && n.writable:
		st.Mode = fs.ModeDir | 0o755
	case n.dir:
		st.Mode = fs.ModeDir | 0o555
	case n.writable:
		st.Mode = 0o644
	default:
		st.Mode = 0o444
	}
	if n.dir {
		st.Size = 0
	}
	return st
}

// openFile is an open file description.
type openFile struct {
	experimentalsys.UnimplementedFile
	fs                  *memFS
	n                   *node
	off                 int64
	read, write, append bool
	listing             []experimentalsys.Dirent // folders: snapshot being read
	listed              bool
}

func (o *openFile) Dev() (uint64, experimentalsys.Errno)      { return 1, 0 }
func (o *openFile) Ino() (sys.Inode, experimentalsys.Errno)   { return o.n.ino, 0 }
func (o *openFile) IsDir() (bool, experimentalsys.Errno)      { return o.n.dir, 0 }
func (o *openFile) IsAppend() bool                            { return o.append }
func (o *openFile) Stat() (sys.Stat_t, experimentalsys.Errno) { return o.n.stat(), 0 }
func (o *openFile) Sync() experimentalsys.Errno               { return 0 }
func (o *openFile) Datasync() experimentalsys.Errno           { return 0 }
func (o *openFile) Close() experimentalsys.Errno              { return 0 }

func (o *openFile) SetAppend(enable bool) experimentalsys.Errno {
	o.append = enable
	return 0
}

func (o *openFile) Read(buf []byte) (int, experimentalsys.Errno) {
	n, errno := o.Pread(buf, o.off)
	o.off += int64(n)
	return n, errno
}

// access checks a read or write of a regular file at off (a size, for
// Truncate).
func (o *openFile) access(write bool, off int64) experimentalsys.Errno {
	switch {
	case o.n.dir:
		return experimentalsys.EISDIR
	case write && !o.write, !write && !o.read:
		return experimentalsys.EBADF
	case off < 0:
		return experimentalsys.EINVAL
	}
	return 0
}

func (o *openFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if errno := o.access(false, off); errno != 0 {
		return 0, errno
	}
	if off >= int64(len(o.n.data)) {
		return 0, 0
	}
	return copy(buf, o.n.data[off:]), 0
}

// offset is int64 under another name. wazero's File.Seek returns an Errno,
// not an error, so it is not an io.Seeker; spelling the offset through an
// alias keeps vet's stdmethods check from taking it for a broken one.
type offset = int64

func (o *openFile) Seek(offset offset, whence int) (int64, experimentalsys.Errno) {
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = o.off
	case io.SeekEnd:
		base = int64(len(o.n.data))
	default:
		return 0, experimentalsys.EINVAL
	}
	pos := base + offset
	if pos < 0 || (offset > 0 && pos < base) {
		return 0, experimentalsys.EINVAL
	}
	if o.n.dir {
		if pos != 0 {
			return 0, experimentalsys.EINVAL
		}
		o.listing, o.listed = nil, false // rewind: list afresh
	}
	o.off = pos
	return pos, 0
}

func (o *openFile) Write(buf []byte) (int, experimentalsys.Errno) {
	off := o.off
	if o.append {
		off = int64(len(o.n.data))
	}
	n, errno := o.Pwrite(buf, off)
	if errno == 0 {
		o.off = off + int64(n)
	}
	return n, errno
}

func (o *openFile) Pwrite(buf []byte, off int64) (int, experimentalsys.Errno) {
	if errno := o.access(true, off); errno != 0 {
		return 0, errno
	}
	if errno := o.fs.writeAt(o.n, buf, off); errno != 0 {
		return 0, errno
	}
	return len(buf), 0
}

// writeAt writes buf at off into an output file, growing it (with zeros
// over any gap) within the budget.
func (f *memFS) writeAt(n *node, buf []byte, off int64) experimentalsys.Errno {
	end := off + int64(len(buf))
	if end < off {
		return experimentalsys.EINVAL
	}
	if grow := end - int64(len(n.data)); grow > 0 {
		if !f.charge(grow) {
			return errNoSpace
		}
		n.data = append(n.data, make([]byte, grow)...)
	}
	copy(n.data[off:], buf)
	return 0
}

func (o *openFile) Truncate(size int64) experimentalsys.Errno {
	if errno := o.access(true, size); errno != 0 {
		return errno
	}
	cur := int64(len(o.n.data))
	if size > cur {
		return o.fs.writeAt(o.n, nil, size) // extends with zeros
	}
	o.fs.budget += cur - size
	clear(o.n.data[size:])
	o.n.data = o.n.data[:size]
	return 0
}

func (o *openFile) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if !o.n.dir {
		return nil, experimentalsys.ENOTDIR
	}
	if !o.listed { // a snapshot, so entries created while listing do not shift it
		o.listed = true
		o.listing = make([]experimentalsys.Dirent, len(o.n.children))
		for i, c := range o.n.children {
			o.listing[i] = experimentalsys.Dirent{Ino: c.ino, Name: c.name}
			if c.dir {
				o.listing[i].Type = fs.ModeDir
			}
		}
	}
	if n <= 0 || n > len(o.listing) {
		n = len(o.listing)
	}
	out := o.listing[:n]
	o.listing = o.listing[n:]
	return out, 0
}

// stdWriter is fd 1 or 2: it appends to stdio/stdout or stdio/stderr, the
// same files a function can open by path.
type stdWriter struct {
	fs *memFS
	n  *node
}

func (w stdWriter) Write(b []byte) (int, error) {
	if errno := w.fs.writeAt(w.n, b, int64(len(w.n.data))); errno != 0 {
		return 0, errno
	}
	return len(b), nil
}

// collect returns the output sets: every regular file created under each
// output set's folder, in creation order, named by its path below the
// folder. The data is handed over, not copied: the file system is dropped
// with the call.
func (f *memFS) collect(outputs []string) ([]loader.Set, error) {
	sets := make([]loader.Set, len(outputs))
	var files []*node
	var walk func(d *node)
	walk = func(d *node) {
		for _, c := range d.children {
			if c.dir {
				walk(c)
			} else if c.writable {
				files = append(files, c)
			}
		}
	}
	for i, name := range outputs {
		sets[i].Ident = name
		files = files[:0]
		walk(f.outputs[i])
		if len(files) == 0 {
			continue
		}
		slices.SortFunc(files, func(a, b *node) int { return cmp.Compare(a.seq, b.seq) })
		sets[i].Items = make([]loader.Item, len(files))
		for j, n := range files {
			ident, _ := f.relPath(n)
			if len(ident) > loader.MaxIdentLen {
				return nil, &loader.OutputError{Field: "output file path length", Value: uint64(len(ident)),
					Reason: "longer than loader.MaxIdentLen (a folder was renamed)"}
			}
			sets[i].Items[j] = loader.Item{Ident: ident, Key: n.key, Data: n.data[:len(n.data):len(n.data)]}
		}
	}
	return sets, nil
}
