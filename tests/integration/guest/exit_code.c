/* A plain exit status travels out as the container's. */
int main(void)
{
	return 42;
}
