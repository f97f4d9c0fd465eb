/*
 * The sentry's vDSO (src/sentry/vdso): an image of its own (guest/vdso.c) and a data page of
 * TSC parameters, mapped into every new image so time reads do not trap.
 */
#ifndef CV_SENTRY_VDSO_H
#define CV_SENTRY_VDSO_H

#include <stdint.h>

struct kernel;
struct mm;

/* Loads the image into the memory file and starts calibration.  Returns 0 or -errno. */
int vdso_init(struct kernel *k);
void vdso_fini(struct kernel *k);
/* Maps the data page and the image into mm; sets mm->vdso_base.  Returns 0 or -errno. */
int vdso_map(struct kernel *k, struct mm *mm);

#endif
