/*
 * noop: returns at once. The cold-start probe: everything it costs is
 * the sandbox and hlibc's start-up and exit.
 */
int main(void)
{
	return 0;
}
