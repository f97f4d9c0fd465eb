#ifndef WORK_H
#define WORK_H
/* Sum of the primes below n, counted by `threads` threads. */
long prime_sum(long n, int threads);
/* Sorts and returns a checksum of n pseudo-random numbers. */
unsigned long sorted_checksum(int n);
#endif
