/* fsfault.so - file-system faults for one database, injected under a running cxd.
 *
 * LD_PRELOADed into cxd by tests/integration/test_faults.py and test_crash.py. It wraps
 * the calls SQLite's unix VFS writes through (open64, write, pwrite64, ftruncate64,
 * fdatasync, fsync) and, for files whose path starts with $FSFAULT_DB (the database, its
 * -wal, -shm and -journal), does what the control file $FSFAULT_CTL says, read on every
 * call so a test can change it while cxd runs:
 *
 *   (no file, or empty)  nothing: every call goes through
 *   EROFS                the file system went read-only (as after errors=remount-ro):
 *                        writes, truncations, syncs and opens for writing fail EROFS
 *   ENOSPC               the disk is full: writes and truncations fail ENOSPC
 *   EIO                  the disk fails: writes and syncs fail EIO
 *   kill-at-write        SIGKILL on the 3rd write to the -wal: a transaction torn in half
 *   kill-before-sync     SIGKILL on the next sync of the -wal: frames written, not synced
 *   kill-after-sync      SIGKILL right after the next sync of the -wal returns: committed
 *                        and durable, but no reply has gone out
 *   kill-in-checkpoint   SIGKILL on the next write to the database file itself, which
 *                        only a checkpoint (copying the WAL back) does
 *
 * The real errno reaches SQLite's real unix VFS, so what is tested is what a real disk
 * would do to cxd, not a mock of it. Reads are never touched.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum mode { NONE, FAIL, KILL_AT_WRITE, KILL_BEFORE_SYNC, KILL_AFTER_SYNC, KILL_IN_CHECKPOINT };

static int wal_writes;   /* writes to the -wal since a kill-at-write mode was seen */

/* The control file's mode, and for FAIL the errno; read with raw syscalls, not through
 * the wrappers below. */
static enum mode mode_now(int *err)
{
	const char *ctl = getenv("FSFAULT_CTL");
	char buf[32] = "";
	long fd;
	ssize_t n;

	if (!ctl || (fd = syscall(SYS_openat, AT_FDCWD, ctl, O_RDONLY | O_CLOEXEC)) < 0)
		return NONE;
	n = syscall(SYS_read, (int)fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, (int)fd);
	if (n <= 0)
		return NONE;
	buf[n] = '\0';
	buf[strcspn(buf, " \n")] = '\0';
	if (strcmp(buf, "EROFS") == 0 || strcmp(buf, "ENOSPC") == 0 || strcmp(buf, "EIO") == 0) {
		*err = buf[1] == 'R' ? EROFS : buf[1] == 'N' ? ENOSPC : EIO;
		return FAIL;
	}
	if (strcmp(buf, "kill-at-write") == 0)
		return KILL_AT_WRITE;
	if (strcmp(buf, "kill-before-sync") == 0)
		return KILL_BEFORE_SYNC;
	if (strcmp(buf, "kill-after-sync") == 0)
		return KILL_AFTER_SYNC;
	if (strcmp(buf, "kill-in-checkpoint") == 0)
		return KILL_IN_CHECKPOINT;
	return NONE;
}

static int path_is_db(const char *path)
{
	const char *db = getenv("FSFAULT_DB");

	return db && path && strncmp(path, db, strlen(db)) == 0;
}

/* Which file fd is: 0 not the database's (or its -shm, which is shared memory, not
 * storage), 1 the database or its journal, 2 its -wal. */
static int fd_kind(int fd)
{
	char link[64], path[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 4)
		return 0;
	path[n] = '\0';
	if (!path_is_db(path) || strcmp(path + n - 4, "-shm") == 0)
		return 0;
	return strcmp(path + n - 4, "-wal") == 0 ? 2 : 1;
}

#define NEXT(name) static __typeof__(name) *next_##name; \
	if (!next_##name) next_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* The fault for a write-like call on fd, or 0 to let it through. */
static int write_fault(int fd, int is_write, int is_sync)
{
	int saved = errno, kind = fd_kind(fd), err = 0;
	enum mode m = kind ? mode_now(&err) : NONE;

	errno = saved;   /* a call let through sees the errno it would have seen */
	if (m != NONE && getenv("FSFAULT_TRACE"))
		fprintf(stderr, "fsfault: fd %d (%s) %s: mode %d errno %d\n", fd,
			kind == 2 ? "wal" : "db", is_sync ? "sync" : "write", (int)m, err);
	switch (m) {
	case FAIL:
		if (err == ENOSPC && is_sync)
			return 0;   /* a full disk still syncs what it holds */
		return err;
	case KILL_AT_WRITE:
		if (kind == 2 && is_write && ++wal_writes == 3)
			raise(SIGKILL);
		return 0;
	case KILL_BEFORE_SYNC:
		if (kind == 2 && is_sync)
			raise(SIGKILL);
		return 0;
	case KILL_IN_CHECKPOINT:
		if (kind == 1 && is_write)
			raise(SIGKILL);
		return 0;
	default:
		return 0;
	}
}

static void after_sync(int fd)
{
	int saved = errno, err;

	if (fd_kind(fd) == 2 && mode_now(&err) == KILL_AFTER_SYNC)
		raise(SIGKILL);
	errno = saved;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	int e = write_fault(fd, 1, 0);
	NEXT(write);
	if (e) {
		errno = e;
		return -1;
	}
	return next_write(fd, buf, n);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	int e = write_fault(fd, 1, 0);
	NEXT(pwrite64);
	if (e) {
		errno = e;
		return -1;
	}
	return next_pwrite64(fd, buf, n, off);
}

int ftruncate64(int fd, off64_t len)
{
	int e = write_fault(fd, 1, 0);
	NEXT(ftruncate64);
	if (e) {
		errno = e;
		return -1;
	}
	return next_ftruncate64(fd, len);
}

int fdatasync(int fd)
{
	int e = write_fault(fd, 0, 1), rc;
	NEXT(fdatasync);
	if (e) {
		errno = e;
		return -1;
	}
	rc = next_fdatasync(fd);
	after_sync(fd);
	return rc;
}

int fsync(int fd)
{
	int e = write_fault(fd, 0, 1), rc;
	NEXT(fsync);
	if (e) {
		errno = e;
		return -1;
	}
	rc = next_fsync(fd);
	after_sync(fd);
	return rc;
}

int open64(const char *path, int flags, ...)
{
	mode_t m = 0;
	int err = 0;
	NEXT(open64);

	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		m = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if ((flags & (O_WRONLY | O_RDWR | O_CREAT)) && path_is_db(path)) {
		int saved = errno;

		if (mode_now(&err) == FAIL && err == EROFS) {
			errno = EROFS;
			return -1;
		}
		errno = saved;
	}
	return next_open64(path, flags, m);
}
