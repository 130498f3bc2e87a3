/*
 * __tessera_exit(status): the only system-call instruction in a function
 * built against hlibc (docs/ABI.md §5). It lives alone in the section
 * .text.tessera_exit so that the no-syscall check (guest/nosyscall_test.go)
 * can allow exactly this instruction, by the symbol's address and size.
 *
 * rax = 231 (exit_group), rdi = status. On ptraceiso and seccompiso this
 * is a real exit; on KVM the VMM catches it through LSTAR. The host reads
 * the status from the system data's exit_code, which hlibc has written
 * before getting here. Nothing may resume after it: ud2 faults if a host
 * ever returns.
 */
	.section .text.tessera_exit, "ax", @progbits
	.globl	__tessera_exit
	.type	__tessera_exit, @function
__tessera_exit:
	movslq	%edi, %rdi
	mov	$231, %eax
	syscall
	ud2
	.size	__tessera_exit, .-__tessera_exit

	.section .note.GNU-stack, "", @progbits
