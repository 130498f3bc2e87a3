package wasmiso

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// wasiFS names the WASI functions that can fail in ways wazero's errno set
// (experimental/sys) has no name for: a full budget (ENOMEM), too many
// items (ENOSPC), removing a set folder (EBUSY), renaming a folder
// (EXDEV), a second output-item name for one file (EMLINK). wazero reports those as EIO; wrapped, they report what the file
// system recorded, as hlibc does.
var wasiFS = map[string]bool{
	"fd_write": true, "fd_pwrite": true, "fd_filestat_set_size": true, "fd_allocate": true,
	"path_open": true, "path_create_directory": true, "path_link": true,
	"path_rename": true, "path_remove_directory": true,
}

// instantiateWASI instantiates wazero's WASI preview 1 under its usual
// module name, with the functions of wasiFS wrapped. wazero's functions
// are first instantiated under a private name only to take their Go
// implementations; no guest can import that name (Compile allows only
// WASI and the key functions).
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	const private = "tessera:wazero-wasi"
	b := rt.NewHostModuleBuilder(private)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	orig, err := b.Instantiate(ctx)
	if err != nil {
		return err
	}
	defer orig.Close(ctx)
	wb := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	for name, def := range orig.ExportedFunctionDefinitions() {
		fn, ok := def.GoFunction().(api.GoModuleFunction)
		if !ok {
			return fmt.Errorf("WASI function %s is not a GoModuleFunction", name)
		}
		if wasiFS[name] {
			fn = withErrno(fn)
		}
		wb.NewFunctionBuilder().
			WithGoModuleFunction(fn, def.ParamTypes(), def.ResultTypes()).
			WithParameterNames(def.ParamNames()...).
			WithResultNames(def.ResultNames()...).
			Export(name)
	}
	_, err = wb.Instantiate(ctx)
	return err
}

// withErrno runs a WASI function and replaces the EIO it returned by the
// errno the call's file system recorded, if any.
func withErrno(fn api.GoModuleFunction) api.GoModuleFunction {
	return api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		c, _ := ctx.Value(callKey{}).(*call)
		if c == nil {
			fn.Call(ctx, mod, stack)
			return
		}
		c.fs.errno = 0
		fn.Call(ctx, mod, stack)
		if c.fs.errno != 0 && uint32(stack[0]) == wasiEIO {
			stack[0] = uint64(c.fs.errno)
		}
		c.fs.errno = 0
	})
}
