#include <pthread.h>
#include <stdlib.h>

#include "work.h"

struct part {
	long from, to, sum;
};

static int is_prime(long v)
{
	if (v < 2)
		return 0;
	for (long d = 2; d * d <= v; d++)
		if (v % d == 0)
			return 0;
	return 1;
}

static void *count(void *arg)
{
	struct part *p = arg;

	for (long v = p->from; v < p->to; v++)
		if (is_prime(v))
			p->sum += v;
	return NULL;
}

long prime_sum(long n, int threads)
{
	pthread_t t[16];
	struct part p[16];
	long sum = 0;

	for (int i = 0; i < threads; i++) {
		p[i] = (struct part){n * i / threads, n * (i + 1) / threads, 0};
		pthread_create(&t[i], NULL, count, &p[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		sum += p[i].sum;
	}
	return sum;
}

static int cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

unsigned long sorted_checksum(int n)
{
	unsigned *v = malloc(sizeof(*v) * (size_t)n), seed = 12345;
	unsigned long sum = 0;

	for (int i = 0; i < n; i++)
		v[i] = seed = seed * 1103515245u + 12345u;
	qsort(v, (size_t)n, sizeof(*v), cmp);
	for (int i = 0; i < n; i++)
		sum = sum * 31 + v[i];
	free(v);
	return sum;
}
