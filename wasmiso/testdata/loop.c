/* Never ends: stopped by the deadline. */
volatile unsigned counter;

int main(void) {
	for (;;)
		counter++;
}
