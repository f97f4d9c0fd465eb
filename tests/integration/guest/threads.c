/* pthreads: 50 threads with a mutex and condvar, thread-local storage, join, detach. */
#include <pthread.h>
#include <stdio.h>

#define N 50
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int counter, ready, go;
static __thread int tls = 7;

static void *worker(void *arg)
{
	long id = (long)arg;

	tls += (int)id;
	pthread_mutex_lock(&mu);
	ready++;
	pthread_cond_broadcast(&cv);
	while (!go)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	return (void *)(long)(tls - (int)id);
}

int main(void)
{
	pthread_t t[N];
	long sum = 0;

	for (long i = 0; i < N; i++)
		pthread_create(&t[i], NULL, worker, (void *)i);
	pthread_mutex_lock(&mu);
	while (ready < N)
		pthread_cond_wait(&cv, &mu);
	go = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < N; i++) {
		void *r;

		pthread_join(t[i], &r);
		sum += (long)r;
	}
	printf("counter=%d tls-sum=%ld main-tls=%d\n", counter, sum, tls);
	return 0;
}
