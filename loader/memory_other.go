//go:build !linux

package loader

import "errors"

func mapMemfd(size uint64) ([]byte, int, func() error, error) {
	return nil, -1, nil, errors.New("memfd-backed contexts need Linux")
}
