module tessera

go 1.26.8

require (
	github.com/tetratelabs/wazero v1.12.0
	golang.org/x/arch v0.32.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
