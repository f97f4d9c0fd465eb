/* The vDSO image built from guest/vdso.c, embedded in the binary. */
	.section .rodata
	.balign 4096
	.globl cv_vdso_image
cv_vdso_image:
	.incbin VDSO_PATH
	.globl cv_vdso_image_end
cv_vdso_image_end:
	.section .note.GNU-stack, "", @progbits
