/* cxtime.h - the calendar arithmetic cxd needs, in UTC, without the C library's locale
 * and time-zone state (so every thread can call it).
 */
#ifndef CX_CXTIME_H
#define CX_CXTIME_H

#include <stdint.h>
#include <stddef.h>

/* Days since 1970-01-01 for a proleptic Gregorian date (no validation). */
int64_t cx_time_days_from_civil(int y, unsigned m, unsigned d);
/* Day number of the first day of day's month, and of the month after it. */
int64_t cx_time_month_start(int64_t day);
int64_t cx_time_next_month(int64_t day);
/* Day number of the Monday starting day's week. */
int64_t cx_time_week_start(int64_t day);
/* Floor division of unix seconds into days. */
int64_t cx_time_day_of(int64_t unix_s);
/* Parse RFC 3339 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)" into unix seconds
 * (fraction dropped). 0 on success, -1 on any malformed or out-of-range part. */
int cx_time_parse_rfc3339(const char *s, int64_t *unix_s);
/* Parse a date "YYYY-MM-DD" or an RFC 3339 timestamp at exactly midnight UTC into a day
 * number. 0 on success, -1 otherwise. */
int cx_time_parse_day(const char *s, int64_t *day);
/* Write "YYYY-MM-DD" for a day number; buf needs 11 bytes (more for far years). */
void cx_time_format_day(int64_t day, char *buf, size_t len);
/* Write "YYYY-MM-DDTHH:MM:SSZ"; buf needs 21 bytes. */
void cx_time_format_rfc3339(int64_t unix_s, char *buf, size_t len);
/* Wall clock in unix seconds / milliseconds, monotonic clock in microseconds. */
int64_t cx_time_now(void);
int64_t cx_time_now_ms(void);
uint64_t cx_time_mono_us(void);

#endif
