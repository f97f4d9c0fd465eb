/* The container's init dies of SIGSEGV: the container exits 128+11, as under runc. */
int main(void)
{
	*(volatile int *)16 = 1;
	return 0;
}
