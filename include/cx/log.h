/* log.h - one line per event on stderr, safe from any thread.
 *
 * Lines start with an RFC 3339 UTC timestamp and a kind: `info`, `error` or `access`.
 * An access line is: method path status bytes microseconds.
 */
#ifndef CX_LOG_H
#define CX_LOG_H

#include <stddef.h>
#include <stdint.h>

void cx_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cx_log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cx_log_access(const char *method, const char *path, unsigned status, uint64_t bytes,
		   uint64_t usec);
/* Turn access lines off (benchmarks); info and error lines always print. */
void cx_log_set_access(int on);

#endif
