/* A 100 MB allocation touched page by page, then checked. */
#include <stdio.h>
#include <stdlib.h>

#define SIZE (100u << 20)

int main(void)
{
	unsigned char *p = malloc(SIZE);
	unsigned long sum = 0;

	if (!p)
		return 1;
	for (size_t i = 0; i < SIZE; i += 4096)
		p[i] = (unsigned char)(i >> 12);
	for (size_t i = 0; i < SIZE; i += 4096)
		sum += p[i];
	printf("sum=%lu\n", sum);
	free(p);
	return 0;
}
