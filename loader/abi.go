package loader

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Item is one data item of a set: an identifier, a key (used by keyed
// distribution), and its bytes.
type Item struct {
	Ident string
	Key   uint64
	Data  []byte
}

// Set is a named list of items: a function's input or output set.
type Set struct {
	Ident string
	Items []Item
}

// Limits on what a guest may hand back. They bound the host memory a
// hostile guest can make the host allocate while reading its outputs.
const (
	// MaxIdentLen bounds an item or set identifier.
	MaxIdentLen = 4096
	// MaxOutputItems bounds the number of output items of one call.
	MaxOutputItems = 1 << 16
	// InputAlign is the alignment of each input item's data.
	InputAlign = 64
)

// ABI is one of the two layouts of the system data: pointers and size_t are
// 8 bytes on x86-64 (ABI64) and 4 bytes on wasm32 (ABI32). Field order and
// semantics are identical; see docs/ABI.md.
type ABI struct{ word uint64 }

var (
	ABI64 = ABI{word: 8}
	ABI32 = ABI{word: 4}
)

// Offsets of the system data fields, in words. exit_code is a 4-byte int at
// offset 0, padded to a word.
const (
	sdExitCode = iota
	sdHeapBegin
	sdHeapEnd
	sdInputSetsLen
	sdInputSets
	sdOutputSetsLen
	sdOutputSets
	sdInputBufs
	sdOutputBufs
	sdWords
)

// Word returns the pointer size in bytes.
func (a ABI) Word() uint64 { return a.word }

// SystemDataSize is the size of struct dandelion_system_data.
func (a ABI) SystemDataSize() uint64 { return sdWords * a.word }

func (a ABI) setInfoSize() uint64  { return 3 * a.word } // ident, ident_len, offset
func (a ABI) ioBufferSize() uint64 { return 5 * a.word } // ident, ident_len, data, data_len, key

// mem is guest memory: index = guest address. Every access is checked.
type mem []byte

func (m mem) span(addr, n uint64) ([]byte, bool) {
	if addr > uint64(len(m)) || n > uint64(len(m))-addr {
		return nil, false
	}
	return m[addr : addr+n : addr+n], true
}

func (a ABI) get(m mem, addr uint64) (uint64, bool) {
	b, ok := m.span(addr, a.word)
	if !ok {
		return 0, false
	}
	if a.word == 4 {
		return uint64(binary.LittleEndian.Uint32(b)), true
	}
	return binary.LittleEndian.Uint64(b), true
}

// put writes a word; the caller has checked the span.
func (a ABI) put(m mem, addr, v uint64) {
	if a.word == 4 {
		binary.LittleEndian.PutUint32(m[addr:], uint32(v))
		return
	}
	binary.LittleEndian.PutUint64(m[addr:], v)
}

// fits reports whether v can be stored in a word.
func (a ABI) fits(v uint64) bool { return a.word == 8 || v <= math.MaxUint32 }

// bump hands out guest memory from [next, limit) for the input area.
type bump struct {
	next, limit uint64
}

func (b *bump) alloc(n, align uint64) (uint64, error) {
	addr := alignUp(b.next, align)
	if addr < b.next || addr > b.limit || n > b.limit-addr {
		return 0, formatErr(ErrContextTooSmall, "inputs need %d more bytes at %#x, only %d are left below the heap limit %#x", n, addr, b.limit-min(addr, b.limit), b.limit)
	}
	b.next = addr + n
	return addr, nil
}

// placeInputs writes the input items, their descriptors and the output set
// descriptors into m using b, and fills the system data at sys except the
// heap bounds. Absent input sets are passed as sets with no items.
func (a ABI) placeInputs(m mem, b *bump, sys uint64, inputs []Set, outputs []string) error {
	if _, ok := m.span(sys, a.SystemDataSize()); !ok {
		return formatErr(ErrContextTooSmall, "system data at %#x does not fit", sys)
	}
	total := uint64(0)
	for _, s := range inputs {
		total += uint64(len(s.Items))
	}
	inSets, err := b.alloc((uint64(len(inputs))+1)*a.setInfoSize(), a.word)
	if err != nil {
		return err
	}
	outSets, err := b.alloc((uint64(len(outputs))+1)*a.setInfoSize(), a.word)
	if err != nil {
		return err
	}
	bufs, err := b.alloc(total*a.ioBufferSize(), a.word)
	if err != nil {
		return err
	}
	str := func(s string) (uint64, error) {
		if len(s) == 0 {
			return 0, nil
		}
		p, err := b.alloc(uint64(len(s)), 1)
		if err == nil {
			copy(m[p:], s)
		}
		return p, err
	}
	idx := uint64(0)
	for i, s := range inputs {
		p, err := str(s.Ident)
		if err != nil {
			return err
		}
		at := inSets + uint64(i)*a.setInfoSize()
		a.put(m, at, p)
		a.put(m, at+a.word, uint64(len(s.Ident)))
		a.put(m, at+2*a.word, idx)
		for _, it := range s.Items {
			if !a.fits(it.Key) {
				return formatErr(ErrOverflow, "input %s/%s: key %d does not fit the %d-bit ABI", s.Ident, it.Ident, it.Key, 8*a.word)
			}
			ip, err := str(it.Ident)
			if err != nil {
				return err
			}
			dp, err := b.alloc(uint64(len(it.Data)), InputAlign)
			if err != nil {
				return err
			}
			copy(m[dp:], it.Data)
			at := bufs + idx*a.ioBufferSize()
			a.put(m, at, ip)
			a.put(m, at+a.word, uint64(len(it.Ident)))
			a.put(m, at+2*a.word, dp)
			a.put(m, at+3*a.word, uint64(len(it.Data)))
			a.put(m, at+4*a.word, it.Key)
			idx++
		}
	}
	// Sentinel: the index one past the last buffer.
	at := inSets + uint64(len(inputs))*a.setInfoSize()
	a.put(m, at+2*a.word, total)
	for i, name := range outputs {
		p, err := str(name)
		if err != nil {
			return err
		}
		at := outSets + uint64(i)*a.setInfoSize()
		a.put(m, at, p)
		a.put(m, at+a.word, uint64(len(name)))
	}

	binary.LittleEndian.PutUint32(m[sys:], math.MaxUint32) // exit_code = -1 until the guest sets it
	a.put(m, sys+sdInputSetsLen*a.word, uint64(len(inputs)))
	a.put(m, sys+sdInputSets*a.word, inSets)
	a.put(m, sys+sdOutputSetsLen*a.word, uint64(len(outputs)))
	a.put(m, sys+sdOutputSets*a.word, outSets)
	a.put(m, sys+sdInputBufs*a.word, bufs)
	a.put(m, sys+sdOutputBufs*a.word, 0)
	return nil
}

func (a ABI) setHeap(m mem, sys, begin, end uint64) {
	a.put(m, sys+sdHeapBegin*a.word, begin)
	a.put(m, sys+sdHeapEnd*a.word, end)
}

// ExitCode returns the exit_code field the guest wrote (-1 if it never did).
func (a ABI) ExitCode(m []byte, sys uint64) (int32, bool) {
	b, ok := mem(m).span(sys, 4)
	if !ok {
		return 0, false
	}
	return int32(binary.LittleEndian.Uint32(b)), true
}

// ReadOutputs reads the output sets a guest described at exit. m is the
// guest's memory (index = guest address), sys the address of its system
// data, and outputs the output set names the host declared, in order.
//
// Every pointer, length and count is checked against m; data is returned as
// subslices of m (zero copy), identifiers are copied. Set names come from
// outputs, not from guest memory. The sum of all item sizes may not exceed
// len(m), so aliasing items cannot amplify what the host has to forward.
func (a ABI) ReadOutputs(m []byte, sys uint64, outputs []string) ([]Set, error) {
	return a.readOutputs(m, sys, outputs, 0)
}

// readOutputs is ReadOutputs for a guest that cannot address memory below
// lowest (a native context's null guard): a descriptor pointing there is
// refused rather than read as the zeros the host happens to hold.
func (a ABI) readOutputs(m []byte, sys uint64, outputs []string, lowest uint64) ([]Set, error) {
	g := mem(m)
	span := func(p, n uint64) ([]byte, string) {
		if n > 0 && p < lowest {
			return nil, fmt.Sprintf("below %#x, where the guest has no memory", lowest)
		}
		b, ok := g.span(p, n)
		if !ok {
			return nil, fmt.Sprintf("%d bytes do not fit in guest memory", n)
		}
		return b, ""
	}
	field := func(i int) (uint64, error) {
		v, ok := a.get(g, sys+uint64(i)*a.word)
		if !ok {
			return 0, &OutputError{Field: "system data", Value: sys, Reason: "outside guest memory"}
		}
		return v, nil
	}
	n, err := field(sdOutputSetsLen)
	if err != nil {
		return nil, err
	}
	if n != uint64(len(outputs)) {
		return nil, &OutputError{Field: "output_sets_len", Value: n, Reason: fmt.Sprintf("the host declared %d output sets", len(outputs))}
	}
	setsPtr, err := field(sdOutputSets)
	if err != nil {
		return nil, err
	}
	if _, why := span(setsPtr, (n+1)*a.setInfoSize()); why != "" {
		return nil, &OutputError{Field: "output_sets", Value: setsPtr, Reason: fmt.Sprintf("%d descriptors: %s", n+1, why)}
	}
	offsets := make([]uint64, n+1)
	for i := range offsets {
		offsets[i], _ = a.get(g, setsPtr+uint64(i)*a.setInfoSize()+2*a.word)
		name := fmt.Sprintf("output_sets[%d].offset", i)
		switch {
		case i == 0 && offsets[0] != 0:
			return nil, &OutputError{Field: name, Value: offsets[0], Reason: "the first set must start at buffer 0"}
		case i > 0 && offsets[i] < offsets[i-1]:
			return nil, &OutputError{Field: name, Value: offsets[i], Reason: fmt.Sprintf("less than the previous offset %d", offsets[i-1])}
		}
	}
	total := offsets[n]
	if total > MaxOutputItems {
		return nil, &OutputError{Field: fmt.Sprintf("output_sets[%d].offset", n), Value: total, Reason: fmt.Sprintf("more than %d output items", MaxOutputItems)}
	}
	sets := make([]Set, n)
	for i := range sets {
		sets[i].Ident = outputs[i]
	}
	if total == 0 {
		return sets, nil
	}
	bufs, err := field(sdOutputBufs)
	if err != nil {
		return nil, err
	}
	if _, why := span(bufs, total*a.ioBufferSize()); why != "" {
		return nil, &OutputError{Field: "output_bufs", Value: bufs, Reason: fmt.Sprintf("%d buffers: %s", total, why)}
	}
	budget := uint64(len(m))
	set := 0
	for i := uint64(0); i < total; i++ {
		for offsets[set+1] <= i {
			set++
		}
		at := bufs + i*a.ioBufferSize()
		w := func(k uint64) uint64 { v, _ := a.get(g, at+k*a.word); return v }
		identPtr, identLen, dataPtr, dataLen, key := w(0), w(1), w(2), w(3), w(4)
		name := func(f string) string { return fmt.Sprintf("output_bufs[%d].%s", i, f) }
		if identLen > MaxIdentLen {
			return nil, &OutputError{Field: name("ident_len"), Value: identLen, Reason: fmt.Sprintf("longer than %d bytes", MaxIdentLen)}
		}
		ident, why := span(identPtr, identLen)
		if why != "" {
			return nil, &OutputError{Field: name("ident"), Value: identPtr, Reason: why}
		}
		var data []byte
		if dataLen > 0 {
			if data, why = span(dataPtr, dataLen); why != "" {
				return nil, &OutputError{Field: name("data"), Value: dataPtr, Reason: why}
			}
		}
		if identLen+dataLen > budget {
			return nil, &OutputError{Field: name("data_len"), Value: dataLen, Reason: "outputs add up to more than the guest's memory"}
		}
		budget -= identLen + dataLen
		sets[set].Items = append(sets[set].Items, Item{Ident: string(ident), Key: key, Data: data})
	}
	return sets, nil
}
