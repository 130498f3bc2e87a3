/* Test guests for the VMM, in assembly so every instruction is deliberate.
 * Each is linked at 0x10000 with a __dandelion_system_data symbol. */
#define SYS __dandelion_system_data
#define SD_EXIT         0
#define SD_HEAP_BEGIN   8
#define SD_HEAP_END    16
#define SD_IN_SETS     32
#define SD_OUT_SETS    48
#define SD_IN_BUFS     56
#define SD_OUT_BUFS    64

/* A recognisable secret: canonical, so it is also a valid FS/GS base. It is
 * only ever built from two halves, so no scanner contains it whole. */
#define SECRET_HI 0x00005ec1
#define SECRET_LO 0x2e7c0de5

.macro LOAD_SECRET reg
	mov $SECRET_HI, \reg
	shl $32, \reg
	or $SECRET_LO, \reg
.endm

/* Store the status and leave through exit_group. */
.macro EXIT code
	movl $\code, SYS+SD_EXIT(%rip)
	mov $231, %eax
	xor %edi, %edi
	syscall
.endm

.macro SYSDATA
	.data
	.balign 8
	.globl SYS
SYS:	.zero 72
	.text
.endm

	.text
	.globl _start
