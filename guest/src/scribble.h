/*
 * The isolation pair, hostile_scribble and hostile_scan: scribble fills
 * every writable byte and register it can reach with SECRET (FS and GS
 * base with the canonical SECRET_FS); scan, run next on the same backend,
 * looks for either in everything it can read. A backend that reuses
 * memory, registers or thread state without resetting them is caught.
 */
#ifndef GUEST_SCRIBBLE_H
#define GUEST_SCRIBBLE_H

#include <elf.h>
#include <stdint.h>

#include "hlibc.h"

#define SECRET 0x5ec2e75ec2e75ec2ull
#define SECRET_FS 0x00005ec2e75ec2e7ull /* a canonical address, for wrfsbase */

/* A range of guest memory. */
struct range {
	uintptr_t lo, hi;
};

extern const char __executable_start[];

/* writable_ranges lists the context's writable memory: the image's
 * writable segments (from its own program headers, which the first
 * segment maps), the input area between the image and the heap, the heap,
 * and the stack (above the guard page that ends the heap) up to top.
 * Returns the number of ranges written to r (at most 16). */
static int writable_ranges(struct range *r, uintptr_t top)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)__executable_start;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(__executable_start + eh->e_phoff);
	int n = 0;
	uintptr_t end = 0;
	for (int i = 0; i < eh->e_phnum && n < 12; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		uintptr_t hi = ph[i].p_vaddr + ph[i].p_memsz;
		if (ph[i].p_flags & PF_W)
			r[n++] = (struct range){ph[i].p_vaddr, hi};
		if (hi > end)
			end = hi;
	}
	const struct dandelion_system_data *sd = &__dandelion_system_data;
	end = (end + 4095) & ~(uintptr_t)4095;
	r[n++] = (struct range){end, sd->heap_begin};
	r[n++] = (struct range){sd->heap_begin, sd->heap_end};
	r[n++] = (struct range){sd->heap_end + 4096, top};
	return n;
}

#endif
