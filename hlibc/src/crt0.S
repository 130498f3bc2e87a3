/*
 * _start: the entry point of every hlibc function, native or debug.
 *
 * The sandbox starts it with rsp = top of context - 32 and every other
 * register zero (docs/ABI.md §4); Linux starts the debug build with argc,
 * argv and envp on the stack. Either way __tessera_start gets the original
 * stack pointer and never returns.
 */
	.text
	.globl	_start
	.type	_start, @function
_start:
	xor	%ebp, %ebp
	mov	%rsp, %rdi
	and	$-16, %rsp
	call	__tessera_start
	ud2
	.size	_start, .-_start

/* newlib's __libc_init_array and __libc_fini_array call these; there are
 * no crti/crtn objects to provide them. */
	.globl	_init
	.type	_init, @function
_init:
	ret
	.size	_init, .-_init

	.globl	_fini
	.type	_fini, @function
_fini:
	ret
	.size	_fini, .-_fini

	.section .note.GNU-stack, "", @progbits
