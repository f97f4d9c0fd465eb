/* A static do-nothing program: the exec target of fork_exec and of the shell fork loop. */
int main(void)
{
	return 0;
}
