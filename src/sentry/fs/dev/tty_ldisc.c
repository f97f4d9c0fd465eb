/*
 * The line discipline (Linux's N_TTY): input processing (ICRNL, INLCR, IGNCR, ISTRIP),
 * canonical line editing (VERASE, VWERASE, VKILL, VLNEXT, VREPRINT, VEOF, VEOL), echo
 * (ECHO, ECHOE, ECHOK, ECHOKE, ECHOCTL, ECHONL), signal characters (VINTR, VQUIT, VSUSP),
 * flow control (IXON, IXANY) and output processing (OPOST, ONLCR, OCRNL, ONOCR, ONLRET,
 * OLCUC).  Everything here runs with tty->lock held and never blocks; signals are reported
 * to the caller, which sends them after dropping the lock.
 *
 * Deviations: no parity (PARMRK, INPCK), no break handling, no XCASE, no tab expansion.
 */
#include <ctype.h>
#include <string.h>

#include "dev_internal.h"

#define IMASK (TTY_IBUF - 1)
#define OMASK (TTY_OBUF - 1)
#define SIGINT_ 2
#define SIGQUIT_ 3
#define SIGTSTP_ 20
#define EOF_MARK 0 /* the byte stored for VEOF (with a line-end mark): read returns 0 */

static bool lflag(const struct tty *tty, uint32_t f)
{
	return tty->termios.c_lflag & f;
}

static bool iflag(const struct tty *tty, uint32_t f)
{
	return tty->termios.c_iflag & f;
}

/* Is c the (enabled) control character at index i? */
static bool is_cc(const struct tty *tty, uint8_t c, int i)
{
	return c != 0 && c == tty->termios.c_cc[i];
}

void ldisc_init_termios(struct linux_termios *tio)
{
	static const uint8_t cc[LINUX_NCCS] = {
		[LINUX_VINTR] = 003,  [LINUX_VQUIT] = 034,   [LINUX_VERASE] = 0177,
		[LINUX_VKILL] = 025,  [LINUX_VEOF] = 004,    [LINUX_VMIN] = 1,
		[LINUX_VSTART] = 021, [LINUX_VSTOP] = 023,   [LINUX_VSUSP] = 032,
		[LINUX_VREPRINT] = 022, [LINUX_VDISCARD] = 017, [LINUX_VWERASE] = 027,
		[LINUX_VLNEXT] = 026,
	};

	memset(tio, 0, sizeof(*tio));
	tio->c_iflag = LINUX_ICRNL | LINUX_IXON;
	tio->c_oflag = LINUX_OPOST | LINUX_ONLCR;
	tio->c_cflag = LINUX_B38400 | LINUX_CS8 | LINUX_CREAD;
	tio->c_lflag = LINUX_ISIG | LINUX_ICANON | LINUX_ECHO | LINUX_ECHOE | LINUX_ECHOK |
		       LINUX_ECHOCTL | LINUX_ECHOKE | LINUX_IEXTEN;
	memcpy(tio->c_cc, cc, sizeof(cc));
}

/* ---- output ------------------------------------------------------------------------------ */

static size_t oroom(const struct tty *tty)
{
	return TTY_OBUF - (tty->ohead - tty->otail);
}

static void oput(struct tty *tty, uint8_t c)
{
	tty->obuf[tty->ohead++ & OMASK] = c;
}

static bool is_continuation(const struct tty *tty, uint8_t c)
{
	return iflag(tty, LINUX_IUTF8) && (c & 0xc0) == 0x80;
}

/* Output processing of one byte; false (nothing written) when the queue lacks room. */
static bool opost(struct tty *tty, uint8_t c)
{
	uint32_t of = tty->termios.c_oflag;

	if (!oroom(tty))
		return false;
	if (!(of & LINUX_OPOST)) {
		oput(tty, c);
		return true;
	}
	switch (c) {
	case '\n':
		if (of & LINUX_ONLCR) {
			if (oroom(tty) < 2)
				return false;
			tty->column = 0;
			oput(tty, '\r');
			break;
		}
		if (of & LINUX_ONLRET)
			tty->column = 0;
		break;
	case '\r':
		if ((of & LINUX_ONOCR) && tty->column == 0)
			return true;
		if (of & LINUX_OCRNL) {
			c = '\n';
			if (of & LINUX_ONLRET)
				tty->column = 0;
			break;
		}
		tty->column = 0;
		break;
	case '\t':
		tty->column = (tty->column | 7) + 1;
		break;
	case '\b':
		if (tty->column > 0)
			tty->column--;
		break;
	default:
		if (!iscntrl(c)) {
			if (of & LINUX_OLCUC)
				c = (uint8_t)toupper(c);
			if (!is_continuation(tty, c))
				tty->column++;
		}
		break;
	}
	oput(tty, c);
	return true;
}

size_t ldisc_write(struct tty *tty, const uint8_t *buf, size_t n)
{
	size_t i;

	if (tty->stopped)
		return 0;
	for (i = 0; i < n; i++)
		if (!opost(tty, buf[i]))
			break;
	return i;
}

size_t ldisc_take_output(struct tty *tty, uint8_t *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n && tty->otail != tty->ohead; i++)
		buf[i] = tty->obuf[tty->otail++ & OMASK];
	return i;
}

size_t ldisc_output_len(struct tty *tty)
{
	return tty->ohead - tty->otail;
}

void ldisc_flush_output(struct tty *tty)
{
	tty->otail = tty->ohead;
}

/* ---- echo -------------------------------------------------------------------------------- */

static void echo_raw(struct tty *tty, uint8_t c)
{
	opost(tty, c); /* echoes that do not fit are lost, as on Linux */
}

static bool echo_as_ctl(const struct tty *tty, uint8_t c)
{
	return lflag(tty, LINUX_ECHOCTL) && iscntrl(c) && c != '\t';
}

/* Echoes c, control characters as ^X with ECHOCTL. */
static void echo_char(struct tty *tty, uint8_t c)
{
	if (echo_as_ctl(tty, c) && oroom(tty) >= 2) {
		oput(tty, '^');
		oput(tty, c ^ 0100);
		tty->column += 2;
		return;
	}
	echo_raw(tty, c);
}

static void echo_str(struct tty *tty, const char *s)
{
	while (*s)
		echo_raw(tty, (uint8_t)*s++);
}

/* ---- input ------------------------------------------------------------------------------- */

static size_t icount(const struct tty *tty)
{
	return tty->ihead - tty->itail;
}

static void set_delim(struct tty *tty, size_t pos, bool on)
{
	size_t i = pos & IMASK;

	if (on)
		tty->idelim[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		tty->idelim[i / 8] &= (uint8_t)~(1u << (i % 8));
}

static bool is_delim(const struct tty *tty, size_t pos)
{
	size_t i = pos & IMASK;

	return tty->idelim[i / 8] & (1u << (i % 8));
}

static uint8_t ibyte(const struct tty *tty, size_t pos)
{
	return tty->ibuf[pos & IMASK];
}

static void iput(struct tty *tty, uint8_t c, bool delim)
{
	set_delim(tty, tty->ihead, delim);
	tty->ibuf[tty->ihead++ & IMASK] = c;
	if (delim)
		tty->canon_head = tty->ihead;
}

void ldisc_flush_input(struct tty *tty)
{
	tty->itail = tty->ihead;
	tty->canon_head = tty->ihead;
	tty->lnext = false;
}

/* Column where the partial line's echo started, advanced over [canon_head, end). */
static unsigned line_column(const struct tty *tty, size_t end)
{
	unsigned col = tty->canon_column;

	for (size_t p = tty->canon_head; p != end; p++) {
		uint8_t c = ibyte(tty, p);

		if (c == '\t')
			col = (col | 7) + 1;
		else if (iscntrl(c))
			col += lflag(tty, LINUX_ECHOCTL) ? 2 : 0;
		else if (!is_continuation(tty, c))
			col++;
	}
	return col;
}

/* Erases the echo of byte c that started at the current end of the line. */
static void echo_erase(struct tty *tty, uint8_t c, bool kill)
{
	if (!kill && !lflag(tty, LINUX_ECHOE)) {
		echo_char(tty, tty->termios.c_cc[LINUX_VERASE]);
		return;
	}
	if (c == '\t') {
		unsigned from = line_column(tty, tty->ihead), to = (from | 7) + 1;

		while (to-- > from)
			echo_raw(tty, '\b');
		return;
	}
	if (echo_as_ctl(tty, c))
		echo_str(tty, "\b \b");
	if (!iscntrl(c) || lflag(tty, LINUX_ECHOCTL))
		echo_str(tty, "\b \b");
}

/* VERASE, VWERASE and VKILL on the partial line. */
static void eraser(struct tty *tty, uint8_t c)
{
	bool kill = false, werase = false, echo = lflag(tty, LINUX_ECHO);
	int alnums = 0;

	if (tty->ihead == tty->canon_head)
		return;
	if (is_cc(tty, c, LINUX_VKILL)) {
		if (!echo || !lflag(tty, LINUX_ECHOK) || !lflag(tty, LINUX_ECHOKE) ||
		    !lflag(tty, LINUX_ECHOE)) {
			tty->ihead = tty->canon_head;
			if (echo) {
				echo_char(tty, c);
				if (lflag(tty, LINUX_ECHOK))
					echo_raw(tty, '\n');
			}
			return;
		}
		kill = true;
	} else if (!is_cc(tty, c, LINUX_VERASE)) {
		werase = true;
	}
	while (tty->ihead != tty->canon_head) {
		size_t head = tty->ihead;
		uint8_t ch;

		do
			ch = ibyte(tty, --head);
		while (is_continuation(tty, ch) && head != tty->canon_head);
		if (is_continuation(tty, ch))
			break;
		if (werase) {
			if (isalnum(ch) || ch == '_')
				alnums++;
			else if (alnums)
				break;
		}
		tty->ihead = head;
		if (echo)
			echo_erase(tty, ch, kill || werase);
		if (!kill && !werase)
			break;
	}
}

static void reprint(struct tty *tty, uint8_t c)
{
	echo_char(tty, c);
	echo_raw(tty, '\n');
	for (size_t p = tty->canon_head; p != tty->ihead; p++)
		echo_char(tty, ibyte(tty, p));
}

/* A signal character: flush unless NOFLSH, restart output, echo. */
static void isig(struct tty *tty, uint8_t c, int sig, uint64_t *sigs)
{
	*sigs |= 1ull << (sig - 1);
	if (!lflag(tty, LINUX_NOFLSH)) {
		ldisc_flush_input(tty);
		ldisc_flush_output(tty);
	}
	if (iflag(tty, LINUX_IXON))
		tty->stopped = false;
	if (lflag(tty, LINUX_ECHO))
		echo_char(tty, c);
}

/* Is there room for one more byte?  ICANON keeps the last slot for a line end. */
static bool iroom(const struct tty *tty, bool line_end)
{
	bool reserve = !line_end && lflag(tty, LINUX_ICANON);

	return icount(tty) < TTY_IBUF - (reserve ? 2 : 1);
}

/* An ordinary byte: echoed and queued.  Returns false when the queue is full. */
static bool put_normal(struct tty *tty, uint8_t c)
{
	if (!iroom(tty, false)) {
		/* An over-long partial line drops input; whole lines wait for readers. */
		return lflag(tty, LINUX_ICANON) && tty->canon_head == tty->itail;
	}
	if (lflag(tty, LINUX_ECHO)) {
		if (tty->canon_head == tty->ihead)
			tty->canon_column = tty->column;
		if (c == '\n')
			echo_raw(tty, c);
		else
			echo_char(tty, c);
	} else if (c == '\n' && lflag(tty, LINUX_ECHONL)) {
		echo_raw(tty, c);
	}
	iput(tty, c, false);
	return true;
}

/* ICANON line ends and editing; returns -1 when c is an ordinary byte, else stop/continue. */
static int canon_char(struct tty *tty, uint8_t c)
{
	bool iext = lflag(tty, LINUX_IEXTEN), echo = lflag(tty, LINUX_ECHO);

	if (is_cc(tty, c, LINUX_VERASE) || is_cc(tty, c, LINUX_VKILL) ||
	    (iext && is_cc(tty, c, LINUX_VWERASE))) {
		eraser(tty, c);
		return 1;
	}
	if (iext && is_cc(tty, c, LINUX_VLNEXT)) {
		tty->lnext = true;
		if (echo && lflag(tty, LINUX_ECHOCTL))
			echo_str(tty, "^\b");
		return 1;
	}
	if (iext && echo && is_cc(tty, c, LINUX_VREPRINT)) {
		reprint(tty, c);
		return 1;
	}
	if (c != '\n' && !is_cc(tty, c, LINUX_VEOF) && !is_cc(tty, c, LINUX_VEOL) &&
	    !(iext && is_cc(tty, c, LINUX_VEOL2)))
		return -1;
	if (!iroom(tty, true))
		return 0;
	if (c == '\n') {
		if (echo || lflag(tty, LINUX_ECHONL))
			echo_raw(tty, c);
	} else if (is_cc(tty, c, LINUX_VEOF)) {
		c = EOF_MARK;
	} else if (echo) {
		echo_char(tty, c);
	}
	iput(tty, c, true);
	return 1;
}

/* Processes one input byte; false when it could not be taken (queue full). */
static bool receive_char(struct tty *tty, uint8_t c, uint64_t *sigs)
{
	int r;

	if (iflag(tty, LINUX_ISTRIP))
		c &= 0x7f;
	if (tty->lnext) {
		tty->lnext = false;
		return put_normal(tty, c);
	}
	if (tty->stopped && iflag(tty, LINUX_IXON) && iflag(tty, LINUX_IXANY))
		tty->stopped = false;
	if (iflag(tty, LINUX_IXON)) {
		if (is_cc(tty, c, LINUX_VSTART)) {
			tty->stopped = false;
			return true;
		}
		if (is_cc(tty, c, LINUX_VSTOP)) {
			tty->stopped = true;
			return true;
		}
	}
	if (lflag(tty, LINUX_ISIG)) {
		static const int sig_of[] = {[LINUX_VINTR] = SIGINT_, [LINUX_VQUIT] = SIGQUIT_,
					     [LINUX_VSUSP] = SIGTSTP_};

		for (int i = 0; i <= LINUX_VSUSP; i++) {
			if (sig_of[i] && is_cc(tty, c, i)) {
				isig(tty, c, sig_of[i], sigs);
				return true;
			}
		}
	}
	if (c == '\r') {
		if (iflag(tty, LINUX_IGNCR))
			return true;
		if (iflag(tty, LINUX_ICRNL))
			c = '\n';
	} else if (c == '\n' && iflag(tty, LINUX_INLCR)) {
		c = '\r';
	}
	if (lflag(tty, LINUX_ICANON) && (r = canon_char(tty, c)) >= 0)
		return r == 1;
	return put_normal(tty, c);
}

size_t ldisc_receive(struct tty *tty, const uint8_t *buf, size_t n, uint64_t *sigs)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!receive_char(tty, buf[i], sigs))
			break;
	return i;
}

size_t ldisc_read(struct tty *tty, uint8_t *buf, size_t n, bool *eof)
{
	size_t done = 0;

	*eof = false;
	if (!lflag(tty, LINUX_ICANON)) {
		while (done < n && tty->itail != tty->ihead)
			buf[done++] = tty->ibuf[tty->itail++ & IMASK];
		return done;
	}
	while (tty->itail != tty->canon_head) {
		bool delim = is_delim(tty, tty->itail);
		uint8_t c = ibyte(tty, tty->itail);

		if (delim && c == EOF_MARK) {
			/* An EOF ends the line: read returns what precedes it, or 0 at its start. */
			tty->itail++;
			*eof = done == 0;
			break;
		}
		if (done == n)
			break;
		tty->itail++;
		buf[done++] = c;
		if (delim)
			break;
	}
	return done;
}

size_t ldisc_readable(struct tty *tty)
{
	size_t n = 0;

	if (!lflag(tty, LINUX_ICANON))
		return icount(tty);
	for (size_t p = tty->itail; p != tty->canon_head; p++)
		if (!(is_delim(tty, p) && ibyte(tty, p) == EOF_MARK))
			n++;
	return n;
}

bool ldisc_input_ready(struct tty *tty)
{
	if (lflag(tty, LINUX_ICANON))
		return tty->canon_head != tty->itail;
	return tty->ihead != tty->itail;
}

size_t ldisc_input_room(struct tty *tty)
{
	return TTY_IBUF - 1 - icount(tty);
}

void ldisc_termios_changed(struct tty *tty, const struct linux_termios *old)
{
	if ((old->c_lflag ^ tty->termios.c_lflag) & LINUX_ICANON) {
		tty->lnext = false;
		if (lflag(tty, LINUX_ICANON) && icount(tty)) {
			/* What raw mode queued becomes one line. */
			set_delim(tty, tty->ihead - 1, true);
			tty->canon_head = tty->ihead;
		} else {
			tty->canon_head = tty->itail;
		}
	}
	if (!iflag(tty, LINUX_IXON))
		tty->stopped = false;
}
