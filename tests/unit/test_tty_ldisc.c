/*
 * Unit tests of the line discipline (src/sentry/fs/dev/tty_ldisc.c): input processing,
 * canonical editing and echo, signal characters, flow control and output processing, on a
 * bare struct tty (no kernel, no tasks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/sentry/fs/dev/dev_internal.h"

static struct tty *new_tty(void)
{
	struct tty *tty = calloc(1, sizeof(*tty));

	assert_non_null(tty);
	ldisc_init_termios(&tty->termios);
	return tty;
}

/* Feeds s as master input; returns the signals raised. */
static uint64_t input(struct tty *tty, const char *s)
{
	uint64_t sigs = 0;

	assert_int_equal(ldisc_receive(tty, (const uint8_t *)s, strlen(s), &sigs), strlen(s));
	return sigs;
}

/* What the master reads now, as a string. */
static const char *output(struct tty *tty)
{
	static char buf[TTY_OBUF + 1];
	size_t n = ldisc_take_output(tty, (uint8_t *)buf, TTY_OBUF);

	buf[n] = 0;
	return buf;
}

static const char *slave_read(struct tty *tty, size_t max, bool *eof)
{
	static char buf[TTY_IBUF + 1];
	size_t n = ldisc_read(tty, (uint8_t *)buf, max, eof);

	buf[n] = 0;
	return buf;
}

static void test_canonical_echo(void **state)
{
	struct tty *tty = new_tty();
	bool eof;

	input(tty, "hel");
	assert_false(ldisc_input_ready(tty));
	assert_string_equal(output(tty), "hel");
	input(tty, "lo\r");
	assert_true(ldisc_input_ready(tty));
	assert_string_equal(output(tty), "lo\r\n"); /* ICRNL, then ONLCR on the echo */
	assert_int_equal(ldisc_readable(tty), 6);
	assert_string_equal(slave_read(tty, 3, &eof), "hel");
	assert_string_equal(slave_read(tty, 100, &eof), "lo\n");
	assert_false(ldisc_input_ready(tty));
	free(tty);
}

static void test_erase_kill_werase(void **state)
{
	struct tty *tty = new_tty();
	bool eof;

	input(tty, "ab\x7f" "c");
	assert_string_equal(output(tty), "ab\b \bc");
	input(tty, "\x15");
	assert_string_equal(output(tty), "\b \b\b \b");
	input(tty, "one two\x17" "2\n");
	output(tty);
	assert_string_equal(slave_read(tty, 100, &eof), "one 2\n");
	/* A control character echoed as ^X takes two columns to erase. */
	input(tty, "\x01\x7f\n");
	assert_string_equal(output(tty), "^A\b \b\b \b\r\n");
	assert_string_equal(slave_read(tty, 100, &eof), "\n");
	free(tty);
}

static void test_eof(void **state)
{
	struct tty *tty = new_tty();
	bool eof;

	input(tty, "abc\x04");
	assert_string_equal(output(tty), "abc");
	assert_int_equal(ldisc_readable(tty), 3);
	assert_string_equal(slave_read(tty, 100, &eof), "abc");
	assert_false(eof);
	input(tty, "\x04");
	assert_string_equal(slave_read(tty, 100, &eof), "");
	assert_true(eof);
	free(tty);
}

static void test_signals_and_lnext(void **state)
{
	struct tty *tty = new_tty();
	bool eof;

	input(tty, "partial");
	output(tty);
	assert_int_equal(input(tty, "\x03"), 1ull << (2 - 1)); /* SIGINT */
	assert_string_equal(output(tty), "^C");
	input(tty, "\n");
	assert_string_equal(slave_read(tty, 100, &eof), "\n"); /* the line was flushed */
	assert_int_equal(input(tty, "\x1c"), 1ull << (3 - 1));  /* SIGQUIT */
	assert_int_equal(input(tty, "\x1a"), 1ull << (20 - 1)); /* SIGTSTP */
	output(tty);
	assert_int_equal(input(tty, "\x16\x03\n"), 0); /* VLNEXT: a literal ^C */
	assert_string_equal(slave_read(tty, 100, &eof), "\x03\n");
	free(tty);
}

static void test_raw_and_switch(void **state)
{
	struct tty *tty = new_tty();
	struct linux_termios old = tty->termios;
	bool eof;

	tty->termios.c_lflag &= ~(LINUX_ICANON | LINUX_ECHO);
	ldisc_termios_changed(tty, &old);
	input(tty, "x\ry");
	assert_string_equal(output(tty), "");
	assert_int_equal(ldisc_readable(tty), 3);
	assert_string_equal(slave_read(tty, 1, &eof), "x");
	/* Back to canonical: what raw mode queued is one line. */
	old = tty->termios;
	tty->termios.c_lflag |= LINUX_ICANON;
	ldisc_termios_changed(tty, &old);
	assert_true(ldisc_input_ready(tty));
	assert_string_equal(slave_read(tty, 100, &eof), "\ny");
	free(tty);
}

static void test_flow_and_output(void **state)
{
	struct tty *tty = new_tty();
	const uint8_t text[] = "a\nb";

	input(tty, "\x13"); /* VSTOP */
	assert_true(tty->stopped);
	assert_int_equal(ldisc_write(tty, text, 3), 0);
	input(tty, "\x11"); /* VSTART */
	assert_int_equal(ldisc_write(tty, text, 3), 3);
	assert_string_equal(output(tty), "a\r\nb");
	tty->termios.c_oflag &= ~LINUX_OPOST;
	ldisc_write(tty, text, 3);
	assert_string_equal(output(tty), "a\nb");
	free(tty);
}

static void test_full_queues(void **state)
{
	struct tty *tty = new_tty();
	struct linux_termios old = tty->termios;
	uint8_t big[TTY_IBUF * 2];
	uint64_t sigs = 0;
	bool eof;

	memset(big, 'z', sizeof(big));
	/* An over-long canonical line drops what does not fit, but still ends. */
	tty->termios.c_lflag &= ~LINUX_ECHO;
	assert_int_equal(ldisc_receive(tty, big, sizeof(big), &sigs), sizeof(big));
	input(tty, "\n");
	assert_int_equal(ldisc_read(tty, big, sizeof(big), &eof), TTY_IBUF - 1);
	assert_int_equal(big[TTY_IBUF - 2], '\n');
	/* Raw mode stops taking input when the queue is full. */
	old = tty->termios;
	tty->termios.c_lflag &= ~LINUX_ICANON;
	ldisc_termios_changed(tty, &old);
	assert_int_equal(ldisc_receive(tty, big, sizeof(big), &sigs), TTY_IBUF - 1);
	assert_int_equal(ldisc_input_room(tty), 0);
	free(tty);
}

static void test_utf8_erase(void **state)
{
	struct tty *tty = new_tty();
	bool eof;

	tty->termios.c_iflag |= LINUX_IUTF8;
	input(tty, "a\xc3\xa9\x7f\n");
	assert_string_equal(slave_read(tty, 100, &eof), "a\n");
	free(tty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical_echo),
		cmocka_unit_test(test_erase_kill_werase),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_signals_and_lnext),
		cmocka_unit_test(test_raw_and_switch),
		cmocka_unit_test(test_flow_and_output),
		cmocka_unit_test(test_full_queues),
		cmocka_unit_test(test_utf8_erase),
	};

	return cmocka_run_group_tests_name("tty_ldisc", tests, NULL, NULL);
}
