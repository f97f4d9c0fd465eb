/* argv and envp arrive intact, in order. */
// ARGS: one "two words" 3 --flag=x
#include <stdio.h>
#include <string.h>

extern char **environ;

int main(int argc, char **argv)
{
	printf("argc=%d\n", argc);
	for (int i = 1; i < argc; i++)
		printf("argv[%d]=%s\n", i, argv[i]);
	for (char **e = environ; *e; e++)
		if (!strncmp(*e, "CVTEST=", 7) || !strncmp(*e, "PATH=", 5) || !strncmp(*e, "HOME=", 5))
			printf("env %s\n", *e);
	return 0;
}
