package guest

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"tessera/loader"
)

// Examples returns every example call with inputs and expected outputs,
// computed here in Go from the documented behaviour of each function (the
// comment at the top of guest/src/<name>.c).
func Examples() []Example {
	var all []Example
	for _, f := range []func() []Example{
		noopExamples, basicExamples, busyExamples, stdioExamples, fileioExamples,
		matmulExamples, matmacExamples, qoiExamples, accessExamples, fanoutExamples,
		renderExamples, wordcountExamples, selftestExamples,
	} {
		all = append(all, f()...)
	}
	return all
}

func set(name string, items ...loader.Item) loader.Set {
	return loader.Set{Ident: name, Items: items}
}

func item(ident string, key uint64, data []byte) loader.Item {
	return loader.Item{Ident: ident, Key: key, Data: data}
}

// stdio is the expected stdio output set.
func stdio(stdout, stderr string) loader.Set {
	return set("stdio", item("stdout", 0, []byte(stdout)), item("stderr", 0, []byte(stderr)))
}

func argv(words string) loader.Set {
	return set("stdio", item("argv", 0, []byte(words)))
}

func noopExamples() []Example {
	return []Example{{
		Name: "noop", Function: "noop", OutputSets: []string{"stdio"},
		Want: []loader.Set{stdio("", "")},
	}}
}

func basicExamples() []Example {
	var b strings.Builder
	b.WriteString("hello, tessera\n")
	fmt.Fprintf(&b, "ints: %d %d %d %d %x %o %c [%5d] [%-5d] [%05d]\n", -42, 42,
		int64(1234567890123), int64(-9000000000000000000), 0xbeef, 8, 'Z', 7, 7, 7)
	fmt.Fprintf(&b, "floats: %.3f %e %s %s %.2f\n", 3.14159, 12345.678,
		strconv.FormatFloat(0.0001, 'g', 6, 64), strconv.FormatFloat(1e20, 'g', 6, 64), -0.005)
	fmt.Fprintf(&b, "strtod: %.1f rest=%s strtol: %d strtoull: %d atoi: %d\n", 2500.0, "xyz", -31,
		uint64(math.MaxUint64), 77)
	v := []int{5, 3, 9, 1, 7, 2, 8, 6, 4, 0, -3}
	sort.Ints(v)
	b.WriteString("qsort:")
	for _, x := range v {
		fmt.Fprintf(&b, " %d", x)
	}
	b.WriteString("\n")
	var s strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&s, "%d,", i)
	}
	var sum uint32
	for _, c := range []byte(s.String()) {
		sum = sum*31 + uint32(c)
	}
	fmt.Fprintf(&b, "heap: len=%d sum=%d\n", s.Len(), sum)
	words := "the quick  brown fox"
	fmt.Fprintf(&b, "strings: len=%d strstr=%s strchr=%s tokens=", len(words),
		words[strings.Index(words, "brown"):], words[strings.IndexByte(words, 'q'):])
	for _, t := range strings.Fields(words) {
		fmt.Fprintf(&b, "[%s]", t)
	}
	fmt.Fprintf(&b, " upper=%s cmp=%d\n", strings.ToUpper("MiXeD 123"), 1)
	fmt.Fprintf(&b, "math: %.6f %.6f %.6f %.6f %.6f %.6f %.6f %.1f %.1f %.3f\n", math.Sqrt(2), math.Sin(1),
		math.Cos(1), math.Exp(1), math.Log(10), math.Pow(2, 10), math.Pi, math.Floor(-2.5),
		math.Ceil(-2.5), math.Mod(10, 3))
	fmt.Fprintf(&b, "errno: null No such file or directory\n")
	fmt.Fprintf(&b, "snprintf: 14 [truncat]\n")
	return []Example{{
		Name: "basic", Function: "basic", OutputSets: []string{"stdio"},
		Want: []loader.Set{stdio(b.String(), "")},
	}}
}

// xorshift64 is busy's loop, n steps from 1.
func xorshift64(n uint64) uint64 {
	x := uint64(1)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func busyExamples() []Example {
	ex := func(name, args string, n uint64) Example {
		var in []loader.Set
		if args != "" {
			in = []loader.Set{argv(args)}
		}
		return Example{
			Name: name, Function: "busy", InputSets: []string{"stdio"}, OutputSets: []string{"stdio"},
			Inputs: in,
			Want:   []loader.Set{stdio(fmt.Sprintf("busy: %d iterations, x=%016x\n", n, xorshift64(n)), "")},
		}
	}
	bad := ex("busy/bad-count", "busy 12x", 0)
	bad.Status = 2
	bad.Want = []loader.Set{stdio("", "busy: not an iteration count: 12x\n")}
	return []Example{ex("busy/default", "", 1000), ex("busy/3M", "busy 3000000", 3000000), bad}
}

func stdioExamples() []Example {
	args := []byte(`stdio plain "two words" 'single "quoted"' esc\ aped mi"x"'e'd "" "back\\slash \"q\"" 	tab` + "\n" + `unterminated "quote  runs on`)
	env := []byte(`HOME=/nowhere LANG=C.UTF-8 'SPACED=a b'`)
	stdin := []byte("first line\n")
	for c := range 256 {
		stdin = append(stdin, byte(c))
	}
	var out bytes.Buffer
	words := SplitWords(args)
	for i, w := range words {
		fmt.Fprintf(&out, "argv[%d]=%s\n", i, w)
	}
	for i, w := range SplitWords(env) {
		fmt.Fprintf(&out, "environ[%d]=%s\n", i, w)
	}
	out.WriteString("stdin:\n")
	out.Write(stdin)
	return []Example{{
		Name: "stdio", Function: "stdio", InputSets: []string{"stdio"}, OutputSets: []string{"stdio"},
		Inputs: []loader.Set{set("stdio", item("argv", 0, args), item("environ", 0, env), item("stdin", 0, stdin))},
		Want: []loader.Set{stdio(out.String(),
			fmt.Sprintf("stdio: %d args, %d bytes of stdin\n", len(words), len(stdin)))},
	}, {
		Name: "stdio/empty", Function: "stdio", InputSets: []string{"stdio"}, OutputSets: []string{"stdio"},
		Want: []loader.Set{stdio("stdin:\n", "stdio: 0 args, 0 bytes of stdin\n")},
	}}
}

// walkSorted lists the items' identifiers as fileio walks them: folder by
// folder, entries in bytewise name order, depth first.
func walkSorted(items []loader.Item) []loader.Item {
	type node struct {
		children map[string]*node
		item     *loader.Item
	}
	root := &node{children: map[string]*node{}}
	for i := range items {
		n := root
		parts := strings.Split(items[i].Ident, "/")
		for _, p := range parts {
			c := n.children[p]
			if c == nil {
				c = &node{children: map[string]*node{}}
				n.children[p] = c
			}
			n = c
		}
		n.item = &items[i]
	}
	var out []loader.Item
	var walk func(*node)
	walk = func(n *node) {
		names := make([]string, 0, len(n.children))
		for k := range n.children {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			c := n.children[k]
			if c.item != nil {
				out = append(out, *c.item)
			}
			walk(c)
		}
	}
	walk(root)
	return out
}

func fileioExamples() []Example {
	bin := make([]byte, 300)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	in := []loader.Item{
		item("notes.txt", 7, []byte("Hello, World!\n")),
		item("data/b.bin", 0, bin),
		item("data/a.txt", 41, []byte("mixed Case ümlaut")),
		item("empty", 2, nil),
		item("zeta", 1<<32-2, []byte("z")),
		item("data/deeper/c", 3, []byte("deep")),
	}
	var out []loader.Item
	var stdout strings.Builder
	total := 0
	for _, it := range walkSorted(in) {
		up := bytes.Clone(it.Data)
		for i, c := range up {
			if c >= 'a' && c <= 'z' {
				up[i] = c - 'a' + 'A'
			}
		}
		out = append(out, item(it.Ident, it.Key+1, up))
		fmt.Fprintf(&stdout, "%s %d %d\n", it.Ident, len(it.Data), it.Key)
		total += len(it.Data)
	}
	fmt.Fprintf(&stdout, "files=%d bytes=%d\n", len(out), total)
	return []Example{{
		Name: "fileio", Function: "fileio", InputSets: []string{"in"}, OutputSets: []string{"out", "stdio"},
		Inputs: []loader.Set{set("in", in...)},
		Want:   []loader.Set{set("out", out...), stdio(stdout.String(), "")},
	}}
}

func randomMatrix(seed uint64, n int) Matrix {
	r := rand.New(rand.NewPCG(seed, 1))
	return NewMatrix(n, func(int, int) int64 { return int64(r.Uint64()) >> r.IntN(60) })
}

func ones(n int, v int64) Matrix { return NewMatrix(n, func(int, int) int64 { return v }) }

func matmulExamples() []Example {
	io := func(name string, items ...loader.Item) Example {
		var want []loader.Item
		sorted := slices.Clone(items)
		slices.SortFunc(sorted, func(a, b loader.Item) int { return strings.Compare(a.Ident, b.Ident) })
		for _, it := range sorted {
			m, err := DecodeMatrix(it.Data)
			if err != nil {
				panic(err)
			}
			want = append(want, item(it.Ident, it.Key, m.Mul(m.Transpose()).Bytes()))
		}
		return Example{
			Name: name, Function: "matmul", InputSets: []string{"matrix"}, OutputSets: []string{"out", "stdio"},
			Inputs: []loader.Set{set("matrix", items...)},
			Want:   []loader.Set{set("out", want...), stdio("", "")},
		}
	}
	bad := io("matmul/malformed")
	// 12 bytes: the row count 1, then half an element.
	bad.Inputs = []loader.Set{set("matrix", item("bad", 0, append(ones(1, 1).Bytes()[:8], 1, 2, 3, 4)))}
	bad.Status = 1
	bad.Want = []loader.Set{set("out"), stdio("", "/matrix/bad: 12 bytes do not hold a 1 x 1 matrix\n")}
	return []Example{
		// Dandelion's test: a 3x3 matrix of ones squares to all threes.
		io("matmul/ones", item("m", 0, ones(3, 1).Bytes())),
		io("matmul/several",
			item("z-last", 3, randomMatrix(1, 5).Bytes()),
			item("big", 9, randomMatrix(2, 37).Bytes()),
			item("a", 1<<31, randomMatrix(3, 1).Bytes()),
			item("empty", 0, Matrix{}.Bytes())),
		bad,
	}
}

func matmacExamples() []Example {
	sets := []string{"mul_left", "add_left", "add_right"}
	ex := func(name string, m, a, b *Matrix) Example {
		var in []loader.Set
		for i, x := range []*Matrix{m, a, b} {
			if x != nil {
				in = append(in, set(sets[i], item("matrix", 0, x.Bytes())))
			}
		}
		n := 0
		for _, x := range []*Matrix{m, a, b} {
			if x != nil {
				n = x.N
			}
		}
		sum := ones(n, 0)
		if a != nil {
			sum = sum.Add(*a)
		}
		if b != nil {
			sum = sum.Add(*b)
		}
		if m != nil {
			sum = m.Mul(sum)
		}
		return Example{
			Name: name, Function: "matmac", InputSets: sets, OutputSets: []string{"out", "stdio"},
			Inputs: in,
			Want:   []loader.Set{set("out", item("matrix", 0, sum.Bytes())), stdio("", "")},
		}
	}
	m, a, b := randomMatrix(4, 6), randomMatrix(5, 6), randomMatrix(6, 6)
	// Dandelion's composition reuse_output: A = matmul(ones) = 3s,
	// B = matmul(A) = 27s, matmac(add_left = A, add_right = B) = 30s.
	threes, twentySevens := ones(3, 3), ones(3, 27)
	bad := ex("matmac/mismatch", nil, &a, nil)
	two := ones(2, 1)
	bad.Inputs = append(bad.Inputs, set("add_right", item("matrix", 0, two.Bytes())))
	bad.Status = 1
	bad.Want = []loader.Set{set("out"), stdio("", "matmac: matrices of different sizes (6 and 2)\n")}
	none := ex("matmac/none", nil, nil, nil)
	none.Want = []loader.Set{set("out"), stdio("", "")}
	return []Example{ex("matmac/full", &m, &a, &b), ex("matmac/dandelion", nil, &threes, &twentySevens), bad, none}
}

// testImage draws a w×h picture with gradients, flat areas (runs), a
// repeating palette (the index) and noise (full pixels); opaque if
// opaque is set.
func testImage(w, h int, seed uint64, opaque bool) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 2))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	palette := []color.NRGBA{{255, 0, 0, 255}, {0, 128, 255, 200}, {9, 9, 9, 0}, {250, 250, 10, 255}}
	for y := range h {
		for x := range w {
			var c color.NRGBA
			switch {
			case y < h/4: // smooth gradient: small differences
				c = color.NRGBA{uint8(x * 3), uint8(y * 5), uint8(x + y), 255}
			case y < h/2: // flat: runs
				c = color.NRGBA{40, 80, 120, 255}
				if x > w/2 {
					c.A = 128
				}
			case y < 3*h/4: // a few colours again and again: the index
				c = palette[(x/3+y)%len(palette)]
			default: // noise
				c = color.NRGBA{uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32())}
			}
			if opaque {
				c.A = 255
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func qoiExamples() []Example {
	rgba, rgb := testImage(37, 23, 1, false), testImage(64, 48, 2, true)
	want := map[string]*image.NRGBA{"grad.png": rgba, "photo.png": rgb}
	// The chunks of the top half of a 64×48 image, under a header that
	// says 48 rows.
	truncated := EncodeQOI(rgb.SubImage(image.Rect(0, 0, 64, 24)).(*image.NRGBA), 3)
	binary.BigEndian.PutUint32(truncated[8:], 48)
	// One pixel whose RGBA chunk stops after two of its four bytes.
	end := "\x00\x00\x00\x00\x00\x00\x00\x01"
	cut := []byte("qoif\x00\x00\x00\x01\x00\x00\x00\x01\x04\x00" + "\xff\x10\x20" + end)
	// 10⁸ pixels (400 MB to decode into) from one chunk byte: refused
	// before anything is allocated.
	huge := []byte("qoif\x00\x00\x27\x10\x00\x00\x27\x10\x04\x00" + "\xc0" + end)
	// bad is a call on one malformed image: status 1, no output, and a
	// message on stderr.
	bad := func(name string, data []byte, why string) Example {
		return Example{
			Name: "qoi2png/" + name, Function: "qoi2png", InputSets: []string{"in"}, OutputSets: []string{"out", "stdio"},
			Inputs: []loader.Set{set("in", item("x.qoi", 0, data))},
			Status: 1,
			Want:   []loader.Set{set("out"), stdio("", "x.qoi: "+why+"\n")},
		}
	}
	return []Example{{
		Name: "qoi2png", Function: "qoi2png", InputSets: []string{"in"}, OutputSets: []string{"out", "stdio"},
		Inputs: []loader.Set{set("in",
			item("photo", 0, EncodeQOI(rgb, 3)),
			item("grad.qoi", 5, EncodeQOI(rgba, 4)))},
		Want: []loader.Set{stdio("", "")},
		Check: func(got []loader.Set) error {
			out := findSet(got, "out")
			if len(out.Items) != 2 || out.Items[0].Ident != "grad.png" || out.Items[1].Ident != "photo.png" {
				return fmt.Errorf("want items grad.png, photo.png in out, got %d items", len(out.Items))
			}
			if out.Items[0].Key != 5 || out.Items[1].Key != 0 {
				return fmt.Errorf("keys %d, %d; want 5, 0", out.Items[0].Key, out.Items[1].Key)
			}
			for _, it := range out.Items {
				if err := samePNG(it.Data, want[it.Ident], it.Ident == "grad.png"); err != nil {
					return fmt.Errorf("%s: %v", it.Ident, err)
				}
			}
			return nil
		},
	}, bad("not-qoi", []byte("not an image, but long enough"), "not a QOI image"),
		bad("truncated", truncated, "QOI data ends after 1536 of 3072 pixels"),
		bad("truncated-chunk", cut, "truncated QOI chunk"),
		bad("huge", huge, "10000x10000 pixels cannot come from 23 bytes"),
	}
}

// samePNG decodes p with image/png and compares it pixel by pixel with
// want; alpha says whether p must carry an alpha channel.
func samePNG(p []byte, want *image.NRGBA, alpha bool) error {
	img, err := png.Decode(bytes.NewReader(p))
	if err != nil {
		return err
	}
	if img.Bounds() != want.Bounds() {
		return fmt.Errorf("bounds %v, want %v", img.Bounds(), want.Bounds())
	}
	switch img.(type) {
	case *image.NRGBA:
		if !alpha {
			return fmt.Errorf("RGBA image, want RGB")
		}
	case *image.RGBA:
		if alpha {
			return fmt.Errorf("RGB image, want RGBA")
		}
	default:
		return fmt.Errorf("decoded as %T", img)
	}
	for y := want.Rect.Min.Y; y < want.Rect.Max.Y; y++ {
		for x := want.Rect.Min.X; x < want.Rect.Max.X; x++ {
			g := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if w := want.NRGBAAt(x, y); g != w {
				return fmt.Errorf("pixel (%d,%d) is %v, want %v", x, y, g, w)
			}
		}
	}
	return nil
}

// jsonString quotes s as access does: \" and \\ escaped, other bytes
// below 0x20 and 0x7f as \u00XX, everything else as is.
func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func accessRequest(service, token string) []byte {
	body := `{"token":` + jsonString(token) + `}`
	return HTTPRequest{Method: "POST", URI: service, Header: [][2]string{
		{"content-type", "application/json"}, {"content-length", strconv.Itoa(len(body))},
	}, Body: []byte(body)}.Bytes()
}

func accessExamples() []Example {
	ex := func(name string, items []loader.Item, status int, want loader.Set, stderr string) Example {
		return Example{
			Name: name, Function: "access", InputSets: []string{"auth"}, OutputSets: []string{"requests", "stdio"},
			Inputs: []loader.Set{set("auth", items...)}, Status: status,
			Want: []loader.Set{want, stdio("", stderr)},
		}
	}
	token := "s3cr\"et\\tok\x01en"
	return []Example{
		ex("access", []loader.Item{
			item("token", 0, []byte("  "+token+"\n")),
			item("service", 0, []byte("https://auth.example/v1/authorize\n")),
		}, 0, set("requests", item("auth", 0, accessRequest("https://auth.example/v1/authorize", token))), ""),
		ex("access/default-service", []loader.Item{item("token", 0, []byte("abc"))}, 0,
			set("requests", item("auth", 0, accessRequest("http://auth/authorize", "abc"))), ""),
		ex("access/empty-token", []loader.Item{item("token", 0, []byte(" \n"))}, 1,
			set("requests"), "access: empty token\n"),
		ex("access/bad-service", []loader.Item{item("token", 0, []byte("t")), item("service", 0, []byte("ftp://x"))},
			1, set("requests"), "access: invalid service URI: ftp://x\n"),
	}
}

// validURI is the endpoint rule of guest/src/http.h.
func validURI(s string) bool {
	rest, ok := strings.CutPrefix(s, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(s, "https://")
	}
	if !ok || rest == "" || len(s) > 2048 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return false
		}
	}
	return true
}

func fanoutExamples() []Example {
	lists := []loader.Item{
		item("b-second", 0, []byte("https://logs-3.example/app?since=0\n")),
		item("a-first", 4, []byte("http://logs-1.example/app\n# a comment\n\n  http://logs-2.example/db  \r\nnot a uri\nhttp://\nftp://x/y\n")),
	}
	ex := func(name string, token *string) Example {
		in := []loader.Set{set("endpoints", lists...)}
		if token != nil {
			in = append(in, set("auth", item("token", 0, []byte(" "+*token+"\n"))))
		}
		var reqs []loader.Item
		var stderr strings.Builder
		sorted := slices.Clone(lists)
		slices.SortFunc(sorted, func(a, b loader.Item) int { return strings.Compare(a.Ident, b.Ident) })
		for _, l := range sorted {
			for _, line := range strings.SplitAfter(string(l.Data), "\n") {
				line = strings.Trim(line, " \t\r\n")
				if line == "" || line[0] == '#' {
					continue
				}
				if !validURI(line) {
					fmt.Fprintf(&stderr, "fanout: skipping invalid endpoint: %s\n", line)
					continue
				}
				h := [][2]string{{"accept", "text/plain"}}
				if token != nil {
					h = append(h, [2]string{"authorization", "Bearer " + *token})
				}
				n := len(reqs)
				reqs = append(reqs, item(fmt.Sprintf("log-%d", n), uint64(n),
					HTTPRequest{Method: "GET", URI: line, Header: h}.Bytes()))
			}
		}
		return Example{
			Name: name, Function: "fanout", InputSets: []string{"endpoints", "auth"},
			OutputSets: []string{"requests", "stdio"}, Inputs: in,
			Want: []loader.Set{set("requests", reqs...), stdio("", stderr.String())},
		}
	}
	token := "tok-123"
	bad := ex("fanout/bad-token", nil)
	bad.Inputs = append(bad.Inputs, set("auth", item("token", 0, []byte("a\nb"))))
	bad.Status = 1
	bad.Want = []loader.Set{set("requests"), stdio("", "fanout: the token contains a line break\n")}
	return []Example{ex("fanout", &token), ex("fanout/no-token", nil), bad}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}

func renderExamples() []Example {
	logs := []loader.Item{
		item("z-web", 0, []byte("GET / 200\nERROR <disk> & \"full\"\r\nretry 'ok'\n")),
		item("a-db", 5, []byte("one line without newline")),
		item("m-empty", 3, nil),
		item("m-crlf", 3, []byte("x\r\n\r\nERRORS: none\nlast\r")),
	}
	sorted := slices.Clone(logs)
	slices.SortFunc(sorted, func(a, b loader.Item) int {
		if c := cmp.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.Ident, b.Ident)
	})
	var body strings.Builder
	lines, errs := 0, 0
	for _, l := range sorted {
		fmt.Fprintf(&body, "<h2>%s</h2>\n<pre>\n", htmlEscape(l.Ident))
		text := string(l.Data)
		parts := strings.Split(text, "\n")
		if strings.HasSuffix(text, "\n") || text == "" {
			parts = parts[:len(parts)-1]
		}
		for i, p := range parts {
			if i < len(parts)-1 || strings.HasSuffix(text, "\n") {
				p = strings.TrimSuffix(p, "\r") // a CR before the LF
			}
			lines++
			if strings.Contains(p, "ERROR") {
				errs++
				fmt.Fprintf(&body, "<span class=\"error\">%s</span>\n", htmlEscape(p))
			} else {
				fmt.Fprintf(&body, "%s\n", htmlEscape(p))
			}
		}
		body.WriteString("</pre>\n")
	}
	page := "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Log report</title></head>\n<body>\n<h1>Log report</h1>\n" +
		fmt.Sprintf("<p>%d sources, %d lines, %d errors</p>\n", len(logs), lines, errs) + body.String() + "</body></html>\n"
	return []Example{{
		Name: "render", Function: "render", InputSets: []string{"logs"}, OutputSets: []string{"report", "stdio"},
		Inputs: []loader.Set{set("logs", logs...)},
		Want:   []loader.Set{set("report", item("index.html", 0, []byte(page))), stdio("", "")},
	}}
}

// countWords is wordcount_map's tokenizer: maximal runs of ASCII letters
// and digits, lower-cased.
func countWords(text []byte, into map[string]uint64) {
	isWord := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	for i := 0; i < len(text); {
		if !isWord(text[i]) {
			i++
			continue
		}
		j := i
		for j < len(text) && isWord(text[j]) {
			j++
		}
		into[strings.ToLower(string(text[i:j]))]++
		i = j
	}
}

func formatCounts(c map[string]uint64) []byte {
	words := make([]string, 0, len(c))
	for w := range c {
		words = append(words, w)
	}
	sort.Strings(words)
	var b bytes.Buffer
	for _, w := range words {
		fmt.Fprintf(&b, "%s %d\n", w, c[w])
	}
	return b.Bytes()
}

// WordcountBuckets is wordcount_map's output for texts split into n
// buckets by 32-bit FNV-1a.
func WordcountBuckets(texts [][]byte, n int) []loader.Item {
	all := map[string]uint64{}
	for _, t := range texts {
		countWords(t, all)
	}
	buckets := make([]map[string]uint64, n)
	for w, c := range all {
		h := fnv.New32a()
		h.Write([]byte(w))
		b := int(h.Sum32() % uint32(n))
		if buckets[b] == nil {
			buckets[b] = map[string]uint64{}
		}
		buckets[b][w] = c
	}
	var out []loader.Item
	for b, m := range buckets {
		if m != nil {
			out = append(out, item(fmt.Sprintf("bucket-%d", b), uint64(b), formatCounts(m)))
		}
	}
	return out
}

func wordcountExamples() []Example {
	texts := []loader.Item{
		item("t1", 0, []byte("The cat and the hat. The END, cat!\nnumbers 42 and 0042\n")),
		item("t2", 0, []byte("HAT hat Hat; über-cat x_y\ttabbed\n")),
	}
	var data [][]byte
	for _, t := range texts {
		data = append(data, t.Data)
	}
	mapEx := func(name, args string, n int) Example {
		in := []loader.Set{set("text", texts...)}
		if args != "" {
			in = append(in, argv(args))
		}
		return Example{
			Name: name, Function: "wordcount_map", InputSets: []string{"text", "stdio"},
			OutputSets: []string{"counts", "stdio"}, Inputs: in,
			Want: []loader.Set{set("counts", WordcountBuckets(data, n)...), stdio("", "")},
		}
	}
	counts := []loader.Item{
		item("m1-b1", 1, []byte("apple 2\nzebra 1\n")),
		item("m0-b0", 0, []byte("kiwi 5\n")),
		item("m0-b1", 1, []byte("apple 3\nmango 4\nzebra 18446744073709551000\n")),
	}
	reduce := Example{
		Name: "wordcount_reduce", Function: "wordcount_reduce", InputSets: []string{"counts"},
		OutputSets: []string{"totals", "stdio"}, Inputs: []loader.Set{set("counts", counts...)},
		Want: []loader.Set{set("totals",
			item("bucket-0", 0, []byte("kiwi 5\n")),
			item("bucket-1", 1, []byte("apple 5\nmango 4\nzebra 18446744073709551001\n"))), stdio("", "")},
	}
	bad := reduce
	bad.Name = "wordcount_reduce/malformed"
	bad.Inputs = []loader.Set{set("counts", item("x", 0, []byte("word\n")))}
	bad.Status = 1
	bad.Want = []loader.Set{set("totals"), stdio("", "/counts/x: malformed line: word\n")}
	// C strings end at a NUL: "a\x00b" and "a\x00c" would hash apart but
	// compare equal, and come out as duplicate words.
	nul := reduce
	nul.Name = "wordcount_reduce/nul"
	nul.Inputs = []loader.Set{set("counts", item("x", 0, []byte("ok 1\na\x00b 2\na\x00c 3\n")))}
	nul.Status = 1
	nul.Want = []loader.Set{set("totals"), stdio("", "/counts/x: a word contains a NUL byte\n")}
	return []Example{mapEx("wordcount_map", "", 4), mapEx("wordcount_map/7", "wordcount_map 7", 7), reduce, bad, nul}
}

var selftestSummary = regexp.MustCompile(`^selftest: [1-9][0-9]* checks, 0 failed\n$`)

func selftestExamples() []Example {
	return []Example{{
		Name: "selftest", Function: "selftest", NativeOnly: true,
		InputSets: []string{"in", "stdio"}, OutputSets: []string{"out", "stdio"},
		Inputs: []loader.Set{
			set("in", item("a", 5, []byte("alpha")), item("dir/b", 0, []byte("beta"))),
			set("stdio", item("stdin", 0, []byte("standard input"))),
		},
		Want: []loader.Set{
			set("out", item("sub/f", 9, []byte("F")), item("y", 0, []byte("hello world!")), item("keep", 0, nil)),
		},
		Check: func(got []loader.Set) error {
			if e := Item(got, "stdio", "stderr"); len(e) > 0 {
				return fmt.Errorf("stderr: %s", e)
			}
			if out := Item(got, "stdio", "stdout"); !selftestSummary.Match(out) {
				return fmt.Errorf("stdout %q does not report success", out)
			}
			return nil
		},
	}}
}
