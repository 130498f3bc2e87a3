package wasmiso

import (
	"context"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// keysModule is the import module of the item-key functions
// (docs/ABI.md §6, tessera.h).
const keysModule = "tessera"

// maxKeyPath bounds the path a guest may pass to getkey/setkey: a set name,
// a slash and an identifier.
const maxKeyPath = 2*4096 + 1

// instantiateKeys defines the "tessera" host module once per runtime:
//
//	getkey(path_ptr i32, path_len i32) -> i64   key of the file at path, or -1
//	setkey(path_ptr i32, path_len i32, key i64) -> i32   0, or -1 if path is
//	                                                     not an output file
//
// The path is resolved like an open() by the guest: absolute, or relative
// to "/" (the only working directory under WASI). The functions find the
// call's file system through the context of the call.
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

// keyTarget returns the file a getkey/setkey call names, or nil. Pointer and
// length come from the guest: Memory.Read checks them against the memory's
// bounds. An i32 parameter occupies only the low half of its stack slot
// (the upper bits are whatever the compiled code left there), hence
// DecodeU32.
func keyTarget(ctx context.Context, mod api.Module, ptrSlot, lenSlot uint64) *node {
	ptr, n := api.DecodeU32(ptrSlot), api.DecodeU32(lenSlot)
	st, _ := ctx.Value(callKey{}).(*call)
	if st == nil || n > maxKeyPath {
		return nil
	}
	mem := mod.Memory()
	if mem == nil {
		return nil
	}
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil
	}
	nd, errno := st.fs.lookup(string(b))
	if errno != 0 || nd.dir {
		return nil
	}
	return nd
}

func getKey(ctx context.Context, mod api.Module, stack []uint64) {
	if nd := keyTarget(ctx, mod, stack[0], stack[1]); nd != nil {
		stack[0] = nd.key
		return
	}
	stack[0] = ^uint64(0) // -1
}

func setKey(ctx context.Context, mod api.Module, stack []uint64) {
	nd := keyTarget(ctx, mod, stack[0], stack[1])
	if nd == nil || !nd.writable {
		stack[0] = api.EncodeI32(-1)
		return
	}
	nd.key = stack[2]
	stack[0] = 0
}
