/* Loads from beyond the end of linear memory: an out-of-bounds trap. */
#include <stdlib.h>

int main(int argc, char **argv) {
	volatile unsigned *p = (unsigned *)(0xfffff000u + (unsigned)argc);
	return (int)*p;
}
