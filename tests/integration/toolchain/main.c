#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "work.h"

int main(void)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		printf("child: primes below 200000 sum to %ld\n", prime_sum(200000, 4));
		return 7;
	}
	waitpid(pid, &status, 0);
	printf("parent: child exited %d\n", WEXITSTATUS(status));
	printf("parent: checksum %lu\n", sorted_checksum(100000));
	return 0;
}
