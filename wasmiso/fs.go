package wasmiso

import (
	"io"
	"io/fs"
	"slices"
	"strings"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/sys"

	"tessera/loader"
)

// The in-memory file system of one call: the convention of docs/ABI.md §6,
// built to behave as hlibc's (hlibc/src/fs.c) does, so that the same C
// source gives the same outputs on every backend. It implements wazero's
// experimental sys.FS, which wazero's own WASI preview 1 functions drive;
// see docs/wasm-backend.md for why.
//
//   - Input sets are read-only folders of read-only files whose bytes are
//     the items' own (reads copy straight from them into guest memory).
//   - Output sets are writable folders. A regular file created anywhere
//     below one (or linked or renamed there) becomes an output item of
//     that set at that moment, named by its path below the set folder;
//     removing it drops the item. Folders cannot be renamed, so names do
//     not change afterwards.
//   - Elsewhere (the root, /tmp, folders made outside any set) files are
//     scratch: writable, never items. /dev/null discards writes.
//   - Keys belong to the file (its inode), so hard links share one.
//
// A call runs on one goroutine, so nothing here needs locking.

// Limits, as hlibc's (fs.h).
const (
	nameMax = 255                   // longest path component
	pathMax = loader.MaxIdentLen    // longest path and output identifier
	itemMax = loader.MaxOutputItems // output items
	nodeFee = 64                    // bytes charged per entry, for its bookkeeping
	wasiEIO = 29                    // WASI errno numbers the wrapper translates
)

// WASI errno numbers wazero's own errno set (experimental/sys) cannot
// express; the file system records them in memFS.errno and the WASI
// wrapper (wasi.go) reports them instead of the EIO wazero would.
const (
	wasiEBUSY  = 10
	wasiEMLINK = 34
	wasiENOMEM = 48
	wasiENOSPC = 51
	wasiEXDEV  = 75
)

// inode is a regular file's contents. Like hlibc's, it lives while an
// entry names it or a descriptor (or a standard stream) has it open; only
// then do its bytes go back to the budget (release).
type inode struct {
	data    []byte
	charged int64 // bytes of data taken from the budget, and not yet given back
	key     uint64
	id      uint64 // st_ino
	nlink   int    // entries naming it
	nopen   int    // descriptors and standard streams that have it open
	items   int    // entries that are output items: 0 or 1 (a file is at most one item)
	ro      bool   // an input item: never written
	null    bool   // /dev/null: reads see EOF, writes vanish
}

// node is a directory entry: a folder, or a name of a regular file.
type node struct {
	name     string
	parent   *node
	dir      bool
	id       uint64           // folders: st_ino
	ro       bool             // folders: entries cannot be added or removed
	outroot  int              // folders: the output set whose folder it is, or -1
	removed  bool             // folders: removed (an open descriptor may remain)
	children []*node          // folders: entries in creation order
	index    map[string]*node // folders with many entries: name -> child
	ino      *inode           // files
	input    bool             // files: an input item's own entry (never removed)

	// Files below an output folder are items of set item (else -1), named
	// ident, linked in creation order.
	item         int
	ident        string
	iprev, inext *node
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

func (n *node) attach(c *node) {
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

func (n *node) detach(c *node) {
	if i := slices.Index(n.children, c); i >= 0 {
		n.children = slices.Delete(n.children, i, i+1)
	}
	// A rename replaces an entry by a new one of the same name; the index
	// then already points at the new one.
	if n.index != nil && n.index[c.name] == c {
		delete(n.index, c.name)
	}
}

// itemList is one output set's items in creation order.
type itemList struct{ head, tail *node }

// memFS is the file system of one call. It is built on first use, as
// hlibc's is, so that a function that touches no file (the no-op cold
// start) pays nothing for it.
type memFS struct {
	experimentalsys.UnimplementedFS
	built   bool
	inputs  []loader.Set
	outputs []string

	root  node
	ids   uint64
	sets  []itemList // per declared output set
	items int

	// budget is what output and scratch files may still take (data and
	// bookkeeping): on native backends they live in the context, so they
	// are bounded by it here too. exhausted records that it ran out.
	budget    int64
	exhausted bool
	// errno is a WASI errno an operation failed with that wazero cannot
	// express; see wasi.go.
	errno uint16
}

// fail records a WASI errno for the wrapper and returns what wazero gets.
func (f *memFS) fail(wasi uint16) experimentalsys.Errno {
	f.errno = wasi
	return experimentalsys.EIO
}

func (f *memFS) newNode(name string, dir bool) *node {
	f.ids++
	return &node{name: name, dir: dir, id: f.ids, outroot: -1, item: -1}
}

// init prepares the file system of a call; build makes the tree.
func (f *memFS) init(inputs []loader.Set, outputs []string, budget int64) {
	f.inputs, f.outputs, f.budget = inputs, outputs, budget
}

// build makes the tree: input sets, output sets, then /tmp and /dev/null,
// in that order (folders list their entries in creation order).
func (f *memFS) build() {
	f.built = true
	inputs, outputs := f.inputs, f.outputs
	f.root = node{dir: true, id: 1, outroot: -1, item: -1}
	f.ids = 1
	f.sets = make([]itemList, len(outputs))
	for _, s := range inputs {
		if d := f.mkpath(&f.root, s.Ident, true); d != nil && d != &f.root {
			for i := range s.Items {
				f.addInput(d, &s.Items[i])
			}
		}
	}
	for i, name := range outputs {
		d := f.mkpath(&f.root, name, false)
		if d == nil || d == &f.root || d.outroot >= 0 {
			continue // not a usable name, or declared twice: no folder
		}
		d.ro, d.outroot = false, i
	}
	if f.root.child("tmp") == nil {
		f.root.attach(f.newNode("tmp", true))
	}
	if dev := f.mkpath(&f.root, "dev", false); dev != nil && !dev.ro && dev.child("null") == nil && f.outSet(dev) < 0 {
		n := f.newNode("null", false)
		n.ino = &inode{id: n.id, nlink: 1, null: true}
		dev.attach(n)
		dev.ro = true
	}
}

// components splits a path at '/' and drops empty and "." components.
func components(p string) []string {
	parts := strings.Split(p, "/")
	return slices.DeleteFunc(parts, func(c string) bool { return c == "" || c == "." })
}

// mkpath walks or creates the folders of path below dir (read-only ones
// if ro). It returns nil if a component is "..", too long, or a file.
func (f *memFS) mkpath(dir *node, path string, ro bool) *node {
	for _, c := range components(path) {
		if c == ".." || len(c) > nameMax {
			return nil
		}
		n := dir.child(c)
		if n == nil {
			n = f.newNode(c, true)
			n.ro = ro
			dir.attach(n)
		} else if !n.dir {
			return nil
		}
		dir = n
	}
	return dir
}

// addInput places an input item at its identifier below the set folder.
// An identifier that cannot be a path, or whose name an earlier entry
// took, is not shown (the first one wins).
func (f *memFS) addInput(set *node, it *loader.Item) {
	id := strings.TrimRight(it.Ident, "/")
	dirPart, name := "", id
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		dirPart, name = id[:i], id[i+1:]
	}
	if name == "" || name == "." || name == ".." || len(name) > nameMax {
		return
	}
	d := f.mkpath(set, dirPart, true)
	if d == nil || d.child(name) != nil {
		return
	}
	n := f.newNode(name, false)
	n.ino = &inode{data: it.Data, key: it.Key, id: n.id, nlink: 1, ro: true}
	n.input = true
	d.attach(n)
}

// outSet returns the output set whose folder holds dir, or -1.
func (f *memFS) outSet(dir *node) int {
	for ; dir != nil; dir = dir.parent {
		if dir.outroot >= 0 {
			return dir.outroot
		}
	}
	return -1
}

// charge takes n bytes from the budget, or fails with ENOMEM as a full
// heap would on a native backend.
func (f *memFS) charge(n int64) experimentalsys.Errno {
	if n > f.budget {
		f.exhausted = true
		return f.fail(wasiENOMEM)
	}
	f.budget -= n
	return 0
}

// lookup is the result of resolving a path.
type lookup struct {
	node     *node // nil if the last component does not exist
	parent   *node // the folder that holds (or would hold) it
	name     string
	trailing bool // the path ended in '/'
}

// resolve resolves a path as wazero passes it: relative to the root,
// cleaned, possibly with a trailing slash. A missing last component is not
// an error (node is nil).
func (f *memFS) resolve(p string) (lookup, experimentalsys.Errno) {
	if !f.built {
		f.build() // every path operation comes through here
	}
	if len(p)+1 > pathMax {
		return lookup{}, experimentalsys.ENAMETOOLONG
	}
	l := lookup{node: &f.root, parent: &f.root, name: "."}
	l.trailing = strings.HasSuffix(p, "/")
	comps := strings.Split(strings.Trim(p, "/"), "/")
	cur := &f.root
	for i, c := range comps {
		if len(c) > nameMax {
			return lookup{}, experimentalsys.ENAMETOOLONG
		}
		if !cur.dir {
			return lookup{}, experimentalsys.ENOTDIR
		}
		var n *node
		switch c {
		case "", ".":
			n = cur
		case "..":
			n = cur
			if cur.parent != nil {
				n = cur.parent
			}
		default:
			if !cur.removed {
				n = cur.child(c)
			}
		}
		if i == len(comps)-1 {
			l.node, l.parent, l.name = n, cur, c
			if n != nil && l.trailing && !n.dir {
				return lookup{}, experimentalsys.ENOTDIR
			}
			return l, 0
		}
		if n == nil {
			return lookup{}, experimentalsys.ENOENT
		}
		cur = n
	}
	return l, 0
}

// existing resolves a path that must exist.
func (f *memFS) existing(p string) (*node, experimentalsys.Errno) {
	l, errno := f.resolve(p)
	if errno == 0 && l.node == nil {
		errno = experimentalsys.ENOENT
	}
	return l.node, errno
}

// addEntry creates an entry named name in parent for ino (a new inode if
// nil; folders pass nil) and makes a file below an output folder an item.
func (f *memFS) addEntry(parent *node, name string, dir bool, ino *inode) (*node, experimentalsys.Errno) {
	if parent.removed {
		return nil, experimentalsys.ENOENT
	}
	if parent.ro {
		return nil, experimentalsys.EROFS
	}
	// A file is at most one output item: a second name under an output
	// folder would make the host count its bytes twice (docs/ABI.md §6).
	if ino != nil && ino.items > 0 && f.outSet(parent) >= 0 {
		return nil, f.fail(wasiEMLINK)
	}
	n := f.newNode(name, dir)
	cost := int64(nodeFee + len(name))
	if !dir {
		if ino == nil {
			ino = &inode{id: n.id}
		}
		n.ino = ino
		if set := f.outSet(parent); set >= 0 {
			parts := []string{name}
			size := len(name)
			for d := parent; d.outroot != set; d = d.parent {
				parts = append(parts, d.name)
				size += 1 + len(d.name)
			}
			if size > pathMax {
				return nil, experimentalsys.ENAMETOOLONG
			}
			slices.Reverse(parts)
			ident := strings.Join(parts, "/")
			if f.items >= itemMax {
				return nil, f.fail(wasiENOSPC)
			}
			n.item, n.ident = set, ident
			cost += int64(len(ident))
		}
	}
	if errno := f.charge(cost); errno != 0 {
		return nil, errno
	}
	if n.item >= 0 {
		n.iprev, n.inext = f.sets[n.item].tail, nil
		f.relist(n)
	}
	parent.attach(n)
	if ino != nil {
		ino.nlink++
	}
	return n, 0
}

// unlist takes an item out of its set, keeping what relist needs to put it
// back where it was.
func (f *memFS) unlist(n *node) {
	l := &f.sets[n.item]
	if n.iprev != nil {
		n.iprev.inext = n.inext
	} else {
		l.head = n.inext
	}
	if n.inext != nil {
		n.inext.iprev = n.iprev
	} else {
		l.tail = n.iprev
	}
	n.ino.items--
	f.items--
}

// relist puts an item into its set between n.iprev and n.inext (undoing
// unlist; several in reverse order).
func (f *memFS) relist(n *node) {
	l := &f.sets[n.item]
	if n.iprev != nil {
		n.iprev.inext = n
	} else {
		l.head = n
	}
	if n.inext != nil {
		n.inext.iprev = n
	} else {
		l.tail = n
	}
	n.ino.items++
	f.items++
}

// remove takes an entry out of the tree (and its item out of its set).
func (f *memFS) remove(n *node) {
	if n.item >= 0 {
		f.unlist(n)
	}
	f.forget(n)
}

// forget takes an entry that is no longer listed as an item out of the tree.
func (f *memFS) forget(n *node) {
	n.parent.detach(n)
	f.budget += int64(nodeFee + len(n.name) + len(n.ident))
	n.iprev, n.inext, n.item, n.ident = nil, nil, -1, ""
	if n.ino != nil {
		n.ino.nlink--
		f.release(n.ino)
	}
}

// release gives a file's bytes back to the budget once nothing can reach
// it any more: no entry names it and no descriptor has it open (an
// unlinked file still open holds its memory, as on a native backend).
func (f *memFS) release(ino *inode) {
	if ino.nlink == 0 && ino.nopen == 0 {
		f.budget += ino.charged
		ino.charged, ino.data = 0, nil
	}
}

func (f *memFS) OpenFile(p string, flag experimentalsys.Oflag, _ fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	acc := flag & (experimentalsys.O_RDONLY | experimentalsys.O_WRONLY | experimentalsys.O_RDWR)
	l, errno := f.resolve(p)
	if errno != 0 {
		return nil, errno
	}
	n := l.node
	if n != nil && flag&experimentalsys.O_CREAT != 0 && flag&experimentalsys.O_EXCL != 0 {
		return nil, experimentalsys.EEXIST
	}
	if n == nil {
		switch {
		case flag&experimentalsys.O_CREAT == 0:
			return nil, experimentalsys.ENOENT
		case l.trailing:
			return nil, experimentalsys.EISDIR
		}
	}
	switch {
	case n != nil && n.dir:
		if acc != experimentalsys.O_RDONLY {
			return nil, experimentalsys.EISDIR
		}
	case flag&experimentalsys.O_DIRECTORY != 0:
		if n != nil {
			return nil, experimentalsys.ENOTDIR
		}
		return nil, experimentalsys.ENOENT
	case n != nil && acc != experimentalsys.O_RDONLY && n.ino.ro:
		return nil, experimentalsys.EROFS
	}
	if n == nil {
		if n, errno = f.addEntry(l.parent, l.name, false, nil); errno != 0 {
			return nil, errno
		}
	}
	o := &openFile{fs: f, n: n, ino: n.ino,
		read:   acc != experimentalsys.O_WRONLY,
		write:  acc != experimentalsys.O_RDONLY,
		append: flag&experimentalsys.O_APPEND != 0}
	if !n.dir && flag&experimentalsys.O_TRUNC != 0 && o.write && !n.ino.null {
		f.truncate(n.ino, 0)
	}
	if o.ino != nil {
		o.ino.nopen++
	}
	return o, 0
}

func (f *memFS) Stat(p string) (sys.Stat_t, experimentalsys.Errno) {
	n, errno := f.existing(p)
	if errno != 0 {
		return sys.Stat_t{}, errno
	}
	return n.stat(), 0
}

// Lstat is Stat: there are no symbolic links.
func (f *memFS) Lstat(p string) (sys.Stat_t, experimentalsys.Errno) { return f.Stat(p) }

func (f *memFS) Readlink(p string) (string, experimentalsys.Errno) {
	if _, errno := f.existing(p); errno != 0 {
		return "", errno
	}
	return "", experimentalsys.EINVAL // exists, but is not a link
}

func (f *memFS) Mkdir(p string, _ fs.FileMode) experimentalsys.Errno {
	l, errno := f.resolve(p)
	switch {
	case errno != 0:
		return errno
	case l.node != nil:
		return experimentalsys.EEXIST
	}
	_, errno = f.addEntry(l.parent, l.name, true, nil)
	return errno
}

func (f *memFS) Unlink(p string) experimentalsys.Errno {
	n, errno := f.existing(p)
	switch {
	case errno != 0:
		return errno
	case n.dir:
		return experimentalsys.EISDIR
	case n.input || n.parent.ro:
		return experimentalsys.EROFS
	}
	f.remove(n)
	return 0
}

func (f *memFS) Rmdir(p string) experimentalsys.Errno {
	n, errno := f.existing(p)
	switch {
	case errno != 0:
		return errno
	case !n.dir:
		return experimentalsys.ENOTDIR
	case n == &f.root || n.outroot >= 0:
		return f.fail(wasiEBUSY)
	case n.ro || n.parent.ro:
		return experimentalsys.EROFS
	case len(n.children) > 0:
		return experimentalsys.ENOTEMPTY
	}
	f.remove(n)
	n.removed = true
	return 0
}

// sourceAndTarget resolves the two paths of link and rename.
func (f *memFS) sourceAndTarget(from, to string) (*node, lookup, experimentalsys.Errno) {
	src, errno := f.existing(from)
	if errno != 0 {
		return nil, lookup{}, errno
	}
	dst, errno := f.resolve(to)
	return src, dst, errno
}

func (f *memFS) Link(from, to string) experimentalsys.Errno {
	src, dst, errno := f.sourceAndTarget(from, to)
	switch {
	case errno != 0:
		return errno
	case dst.node != nil:
		return experimentalsys.EEXIST
	case src.dir:
		return experimentalsys.EPERM
	}
	_, errno = f.addEntry(dst.parent, dst.name, false, src.ino)
	return errno
}

// Rename moves a file (a folder cannot move: EXDEV, as in hlibc, so output
// identifiers never change), replacing an existing target. The moved file
// counts as created now: it becomes the last item of its set.
//
// It is all or nothing, as hlibc's: the moving item and a replaced target
// are set aside (so a rename works at the item limit, and renaming an item
// onto another name of its own file is no second item), and put back if
// the new name cannot be made.
func (f *memFS) Rename(from, to string) experimentalsys.Errno {
	src, dst, errno := f.sourceAndTarget(from, to)
	old := dst.node
	switch {
	case errno != 0:
		return errno
	case src == old || (old != nil && src.ino != nil && src.ino == old.ino):
		return 0 // two names of one file: nothing to do (POSIX)
	case src.dir:
		return f.fail(wasiEXDEV)
	case old != nil && old.dir:
		return experimentalsys.EISDIR
	case src.input || src.parent.ro || (old != nil && old.input):
		return experimentalsys.EROFS
	}
	if src.item >= 0 {
		f.unlist(src)
	}
	if old != nil && old.item >= 0 {
		f.unlist(old)
	}
	if _, errno := f.addEntry(dst.parent, dst.name, false, src.ino); errno != 0 {
		if old != nil && old.item >= 0 {
			f.relist(old)
		}
		if src.item >= 0 {
			f.relist(src)
		}
		return errno
	}
	if old != nil {
		f.forget(old)
	}
	f.forget(src)
	return 0
}

func (n *node) stat() sys.Stat_t {
	if n.dir {
		mode := fs.ModeDir | 0o755
		if n.ro {
			mode = fs.ModeDir | 0o555
		}
		return sys.Stat_t{Dev: 1, Ino: n.id, Mode: mode, Nlink: 2}
	}
	return n.ino.stat()
}

func (ino *inode) stat() sys.Stat_t {
	st := sys.Stat_t{Dev: 1, Ino: ino.id, Nlink: uint64(ino.nlink), Size: int64(len(ino.data)), Mode: 0o644}
	switch {
	case ino.null:
		st.Mode = fs.ModeDevice | fs.ModeCharDevice | 0o666
	case ino.ro:
		st.Mode = 0o444
	}
	return st
}

// writeAt writes buf at off into a writable file, growing it (with zeros
// over any gap) within the budget.
func (f *memFS) writeAt(ino *inode, buf []byte, off int64) experimentalsys.Errno {
	if ino.null {
		return 0
	}
	end := off + int64(len(buf))
	if end < off {
		return experimentalsys.EINVAL
	}
	if grow := end - int64(len(ino.data)); grow > 0 {
		if errno := f.charge(grow); errno != 0 {
			return errno
		}
		ino.charged += grow
		old := int64(len(ino.data))
		ino.data = slices.Grow(ino.data, int(grow))[:end]
		if off > old {
			clear(ino.data[old:off]) // the gap reads as zeros
		}
	}
	copy(ino.data[off:], buf)
	return 0
}

// truncate sets a writable file's size.
func (f *memFS) truncate(ino *inode, size int64) experimentalsys.Errno {
	cur := int64(len(ino.data))
	if size > cur {
		return f.writeAt(ino, nil, size) // extends with zeros
	}
	// What was charged goes back, never more.
	refund := min(cur-size, ino.charged)
	f.budget += refund
	ino.charged -= refund
	clear(ino.data[size:])
	ino.data = ino.data[:size]
	return 0
}

// openFile is an open file description.
type openFile struct {
	experimentalsys.UnimplementedFile
	fs                  *memFS
	n                   *node  // the entry opened (folders are read through it)
	ino                 *inode // files: what reads and writes reach, even once unlinked
	off                 int64
	read, write, append bool
	listing             []experimentalsys.Dirent // folders: snapshot being read
	listed              bool
	closed              bool
}

func (o *openFile) Dev() (uint64, experimentalsys.Errno)     { return 1, 0 }
func (o *openFile) IsDir() (bool, experimentalsys.Errno)     { return o.n.dir, 0 }
func (o *openFile) IsAppend() bool                           { return o.append }
func (o *openFile) Sync() experimentalsys.Errno              { return 0 }
func (o *openFile) Datasync() experimentalsys.Errno          { return 0 }
func (o *openFile) Utimens(_, _ int64) experimentalsys.Errno { return 0 } // no time passes

// Close lets go of the file: the last descriptor of a file no entry names
// any more gives its bytes back.
func (o *openFile) Close() experimentalsys.Errno {
	if !o.closed && o.ino != nil {
		o.ino.nopen--
		o.fs.release(o.ino)
	}
	o.closed = true
	return 0
}

func (o *openFile) Ino() (sys.Inode, experimentalsys.Errno) {
	if o.ino != nil {
		return o.ino.id, 0
	}
	return o.n.id, 0
}

func (o *openFile) Stat() (sys.Stat_t, experimentalsys.Errno) {
	if o.ino != nil {
		return o.ino.stat(), 0
	}
	return o.n.stat(), 0
}

func (o *openFile) SetAppend(enable bool) experimentalsys.Errno {
	o.append = enable
	return 0
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

func (o *openFile) Read(buf []byte) (int, experimentalsys.Errno) {
	n, errno := o.Pread(buf, o.off)
	o.off += int64(n)
	return n, errno
}

func (o *openFile) Pread(buf []byte, off int64) (int, experimentalsys.Errno) {
	if errno := o.access(false, off); errno != 0 {
		return 0, errno
	}
	if o.ino.null || off >= int64(len(o.ino.data)) {
		return 0, 0
	}
	return copy(buf, o.ino.data[off:]), 0
}

// offset is int64 under another name. wazero's File.Seek returns an Errno,
// not an error, so it is not an io.Seeker; spelling the offset through an
// alias keeps vet's stdmethods check from taking it for a broken one.
type offset = int64

func (o *openFile) Seek(offset offset, whence int) (int64, experimentalsys.Errno) {
	if o.n.dir {
		if offset != 0 || whence != io.SeekStart {
			return 0, experimentalsys.EINVAL
		}
		o.off, o.listing, o.listed = 0, nil, false // rewind: list afresh
		return 0, 0
	}
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = o.off
	case io.SeekEnd:
		base = int64(len(o.ino.data))
	default:
		return 0, experimentalsys.EINVAL
	}
	pos := base + offset
	if pos < 0 || (offset > 0 && pos < base) {
		return 0, experimentalsys.EINVAL
	}
	o.off = pos
	return pos, 0
}

func (o *openFile) Write(buf []byte) (int, experimentalsys.Errno) {
	off := o.off
	if o.append && o.ino != nil {
		off = int64(len(o.ino.data))
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
	if errno := o.fs.writeAt(o.ino, buf, off); errno != 0 {
		return 0, errno
	}
	return len(buf), 0
}

func (o *openFile) Truncate(size int64) experimentalsys.Errno {
	if errno := o.access(true, size); errno != 0 {
		return errno
	}
	if o.ino.null {
		return 0
	}
	return o.fs.truncate(o.ino, size)
}

func (o *openFile) Readdir(n int) ([]experimentalsys.Dirent, experimentalsys.Errno) {
	if !o.n.dir {
		return nil, experimentalsys.ENOTDIR
	}
	if !o.listed { // a snapshot, so entries created while listing do not shift it
		o.listed = true
		o.listing = make([]experimentalsys.Dirent, len(o.n.children))
		for i, c := range o.n.children {
			o.listing[i] = experimentalsys.Dirent{Name: c.name}
			switch {
			case c.dir:
				o.listing[i].Ino, o.listing[i].Type = c.id, fs.ModeDir
			case c.ino.null:
				o.listing[i].Ino, o.listing[i].Type = c.ino.id, fs.ModeDevice|fs.ModeCharDevice
			default:
				o.listing[i].Ino = c.ino.id
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

// stdStream is fd 0, 1 or 2, bound on first use as hlibc binds them:
// stdin reads the file /stdio/stdin if there is one; stdout and stderr
// append to /stdio/stdout and /stdio/stderr, created on the first write
// when stdio is an output set (so a function that prints nothing has no
// such item), and are discarded otherwise.
type stdStream struct {
	fs    *memFS
	name  string
	bound bool
	ino   *inode // nil: EOF, or discarded
	off   int
}

func (s *stdStream) bind(create bool) {
	s.bound = true
	l, errno := s.fs.resolve("stdio/" + s.name)
	if errno != 0 {
		return
	}
	n := l.node
	if n == nil && create && l.parent.outroot >= 0 {
		n, _ = s.fs.addEntry(l.parent, s.name, false, nil)
	}
	if n != nil && !n.dir && (!create || !n.ino.ro) {
		s.ino = n.ino
		s.ino.nopen++ // for the rest of the call
	}
}

func (s *stdStream) Read(p []byte) (int, error) {
	if !s.bound {
		s.bind(false)
	}
	if s.ino == nil || s.ino.null || s.off >= len(s.ino.data) {
		return 0, io.EOF
	}
	n := copy(p, s.ino.data[s.off:])
	s.off += n
	return n, nil
}

func (s *stdStream) Write(p []byte) (int, error) {
	if !s.bound {
		s.bind(true)
	}
	if s.ino == nil {
		return len(p), nil // discarded
	}
	if errno := s.fs.writeAt(s.ino, p, int64(len(s.ino.data))); errno != 0 {
		return 0, errno
	}
	return len(p), nil
}

// collect returns the output sets: each set's items in creation order.
// The data is handed over, not copied: the file system is dropped with the
// call.
func (f *memFS) collect(outputs []string) []loader.Set {
	sets := make([]loader.Set, len(outputs))
	for i, name := range outputs {
		sets[i].Ident = name
		if !f.built {
			continue // never used: no files
		}
		for n := f.sets[i].head; n != nil; n = n.inext {
			d := n.ino.data
			sets[i].Items = append(sets[i].Items, loader.Item{Ident: n.ident, Key: n.ino.key, Data: d[:len(d):len(d)]})
		}
	}
	return sets
}
