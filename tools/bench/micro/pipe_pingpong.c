/* 1-byte pipe ping-pong between two processes pinned to CPU 0 (see bench_pin_cpu0): per round
 * trip, two writes, two reads and two wake-ups of a blocked reader.
 * usage: pipe_pingpong [bench opts] */
#include "bench.h"
#include <sys/wait.h>

struct pp {
	int to_child, from_child;
};

static int pingpong(void *arg, long n)
{
	struct pp *p = arg;
	char c = 'x';

	for (long i = 0; i < n; i++) {
		if (write(p->to_child, &c, 1) != 1)
			return -errno;
		if (read(p->from_child, &c, 1) != 1)
			return -EIO;
	}
	return 0;
}

static void echo_child(int in, int out)
{
	char c;

	while (read(in, &c, 1) == 1)
		if (write(out, &c, 1) != 1)
			_exit(1);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct bench_opts o;
	int down[2], up[2], status;
	struct pp p;
	pid_t pid;

	bench_parse(argc, argv, &o);
	bench_name = "pipe_pingpong";
	bench_pin_cpu0();
	if (pipe(down) < 0 || pipe(up) < 0)
		bench_fail("pipe", errno);
	pid = fork();
	if (pid < 0)
		bench_fail("fork", errno);
	if (pid == 0) {
		close(down[1]);
		close(up[0]);
		echo_child(down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	p.to_child = down[1];
	p.from_child = up[0];
	bench_run("pipe_pingpong", &o, pingpong, &p);
	close(down[1]);
	waitpid(pid, &status, 0);
	return 0;
}
