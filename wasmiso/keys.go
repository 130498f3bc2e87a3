package wasmiso

import (
	"context"
	"math"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
)

// keysModule is the import module of the item-key functions (docs/ABI.md
// §6, hlibc/src/tessera_wasm.c).
const keysModule = "tessera"

// WASI errno numbers the key functions return.
const (
	wasiEFAULT       = 21
	wasiEINVAL       = 28
	wasiEISDIR       = 31
	wasiENAMETOOLONG = 37
	wasiENOENT       = 44
	wasiENOTDIR      = 54
	wasiEOVERFLOW    = 61
	wasiEROFS        = 69
)

// instantiateKeys defines the "tessera" host module once per runtime:
//
//	getkey(path_ptr i32, path_len i32) -> i64
//	    the key of the regular file at path, or the negated WASI errno
//	setkey(path_ptr i32, path_len i32, key i64) -> i32
//	    0, or a WASI errno
//
// path is absolute and canonical (the guest resolved it); it names files
// as the folders of the file system do. The functions find the call's
// file system through the context of the call.
func instantiateKeys(ctx context.Context, rt wazero.Runtime) error {
	i32, i64 := api.ValueTypeI32, api.ValueTypeI64
	_, err := rt.NewHostModuleBuilder(keysModule).
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(getKey), []api.ValueType{i32, i32}, []api.ValueType{i64}).
		WithParameterNames("path_ptr", "path_len").
		Export("getkey").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(setKey), []api.ValueType{i32, i32, i64}, []api.ValueType{i32}).
		WithParameterNames("path_ptr", "path_len", "key").
		Export("setkey").
		Instantiate(ctx)
	return err
}

// keyTarget returns the file a getkey/setkey call names, or a WASI errno.
// Pointer and length come from the guest: Memory.Read checks them against
// the memory's bounds. An i32 parameter occupies only the low half of its
// stack slot (the upper bits are whatever the compiled code left there),
// hence DecodeU32.
func keyTarget(ctx context.Context, mod api.Module, ptrSlot, lenSlot uint64) (*node, uint16) {
	ptr, n := api.DecodeU32(ptrSlot), api.DecodeU32(lenSlot)
	c, _ := ctx.Value(callKey{}).(*call)
	mem := mod.Memory()
	switch {
	case c == nil || mem == nil:
		return nil, wasiEFAULT
	case n == 0:
		return nil, wasiEINVAL
	case n > pathMax:
		return nil, wasiENAMETOOLONG
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, wasiEFAULT
	}
	nd, errno := c.fs.existing(string(b)) // leading slashes are the root
	switch {
	case errno == experimentalsys.ENOENT:
		return nil, wasiENOENT
	case errno == experimentalsys.ENOTDIR:
		return nil, wasiENOTDIR
	case errno == experimentalsys.ENAMETOOLONG:
		return nil, wasiENAMETOOLONG
	case errno != 0:
		return nil, wasiEINVAL
	case nd.dir:
		return nil, wasiEISDIR
	}
	return nd, 0
}

func getKey(ctx context.Context, mod api.Module, stack []uint64) {
	nd, errno := keyTarget(ctx, mod, stack[0], stack[1])
	switch {
	case errno != 0:
	case nd.ino.key > math.MaxInt64: // would read as an error
		errno = wasiEOVERFLOW
	default:
		stack[0] = nd.ino.key
		return
	}
	stack[0] = api.EncodeI64(-int64(errno))
}

func setKey(ctx context.Context, mod api.Module, stack []uint64) {
	nd, errno := keyTarget(ctx, mod, stack[0], stack[1])
	switch {
	case errno != 0:
	case nd.ino.ro:
		errno = wasiEROFS
	case stack[2] > math.MaxUint32: // a wasm32 size_t
		errno = wasiEINVAL
	default:
		nd.ino.key = stack[2]
	}
	stack[0] = api.EncodeU32(uint32(errno))
}
