/* Does nothing: the cold-start benchmark. */
int main(void) { return 0; }
