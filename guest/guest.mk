# Example and test guests (see guest/doc.go). Placeholder until the hlibc
# issue lands.
guests: hlibc
