# hlibc: newlib built freestanding plus tessera's hooks (see hlibc/doc.go).
# Placeholder until the hlibc issue lands.
.PHONY: hlibc
hlibc:
