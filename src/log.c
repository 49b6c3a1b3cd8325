/* log.c - see include/cx/log.h. Each line is built in a buffer and written with one
 * write(2), so lines from different threads never interleave. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cx/log.h"

static atomic_int access_on = 1;

void cx_log_set_access(int on)
{
	atomic_store(&access_on, on);
}

static size_t stamp(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) +
	       (size_t)snprintf(buf + 19, len - 19, ".%03ldZ ", ts.tv_nsec / 1000000);
}

static void emit(const char *kind, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void emit(const char *kind, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n = stamp(line, sizeof(line));
	int k = snprintf(line + n, sizeof(line) - n, "%s ", kind);

	n += (size_t)k;
	k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	n = (k < 0) ? n : (n + (size_t)k >= sizeof(line) - 1 ? sizeof(line) - 2 : n + (size_t)k);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nowhere left to report it */
	}
}

void cx_log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("info", fmt, ap);
	va_end(ap);
}

void cx_log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("error", fmt, ap);
	va_end(ap);
}

static void access_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void access_line(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("access", fmt, ap);
	va_end(ap);
}

void cx_log_access(const char *method, const char *path, unsigned status, uint64_t bytes,
		   uint64_t usec)
{
	if (!atomic_load(&access_on))
		return;
	/* the path is client bytes: cap it and keep control characters out of the log. A
	 * personal link's token is a credential (whoever has it answers as the customer) and
	 * its payload names the customer: only its key id, before the first dot, is kept. */
	char safe[256];
	const char *dot = strncmp(path, "/i/", 3) == 0 ? strchr(path + 3, '.') : NULL;
	size_t i, max = sizeof(safe) - 1;

	if (dot && (size_t)(dot - path) < max - 4)
		max = (size_t)(dot - path);
	for (i = 0; path[i] && i < max; i++)
		safe[i] = (path[i] < 0x20 || path[i] == 0x7f) ? '?' : path[i];
	safe[i] = '\0';
	if (dot && path + i == dot)
		memcpy(safe + i, ".***", 5);
	access_line("%s %s %u %llu %lluus", method, safe, status, (unsigned long long)bytes,
		    (unsigned long long)usec);
}
