/* The systrap stub blob built from blob/ (platform.mk), embedded in the binary. */
	.section .rodata
	.balign 4096
	.globl systrap_blob
systrap_blob:
	.incbin SYSTRAP_BLOB_PATH
	.globl systrap_blob_end
systrap_blob_end:
	.section .note.GNU-stack, "", @progbits
