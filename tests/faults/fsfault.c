/* fsfault.so - file-system faults for one database, injected under a running cxd.
 *
 * LD_PRELOADed into cxd by tests/integration/test_faults.py, test_crash.py and
 * test_powerloss.py. It wraps the calls SQLite's unix VFS writes through (open64, write,
 * pwrite64, ftruncate64, fdatasync, fsync, unlink) and, for files whose path starts with $FSFAULT_DB (the database, its
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
 *   power-cut            the power fails now: every write to the database files that no
 *                        fdatasync/fsync covered is undone, then SIGKILL (needs
 *                        FSFAULT_POWERLOSS=1; seen by a watcher thread within 2 ms even
 *                        when cxd is idle, or by the next call on a database file)
 *   power-cut-mid-write  the same, at the first moment after this that some write is not
 *                        synced yet (halfway through a commit or a checkpoint), so the
 *                        cut always has something to lose: seen by the watcher, or at
 *                        the latest by the sync that would have made it durable
 *
 * The real errno reaches SQLite's real unix VFS, so what is tested is what a real disk
 * would do to cxd, not a mock of it. Reads are never touched.
 *
 * Power loss (FSFAULT_POWERLOSS=1 in the environment at start): SIGKILL keeps the page
 * cache, so a kill alone cannot tell a synced commit from an unsynced one. With this set,
 * the shim keeps, per file (device and inode, so the several SQLite connections that write
 * one file share it), an undo log of every write and truncation since that file's last
 * successful fdatasync/fsync: the bytes each overwrote and the size before it. A sync
 * empties the file's log. On a power cut, and before every SIGKILL this shim raises in the
 * kill-* modes, the logs are replayed backwards, leaving each file exactly as its last sync
 * left it (the disk model SQLite's durability rests on: synced bytes survive, nothing else
 * does), and one line "fsfault: power cut: undid N writes (B bytes) in F files" goes to
 * stderr. Every tracked call holds one mutex from its fault check to its return, so no
 * write is half done while the files are reverted, and none runs after. A removed file's
 * log is dropped (SQLite deletes the -journal and creates the -wal, which may get the same
 * inode number). The -shm file is shared memory, not storage: it is never tracked (the
 * test deletes it after a cut; SQLite rebuilds it from the WAL). Directory entries are not
 * modelled (SQLite creates the WAL once and keeps it while cxd runs).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

enum mode { NONE, FAIL, KILL_AT_WRITE, KILL_BEFORE_SYNC, KILL_AFTER_SYNC, KILL_IN_CHECKPOINT,
	    POWER_CUT, POWER_CUT_MID_WRITE };

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
	if (strcmp(buf, "power-cut") == 0)
		return POWER_CUT;
	if (strcmp(buf, "power-cut-mid-write") == 0)
		return POWER_CUT_MID_WRITE;
	return NONE;
}

static int path_is_db(const char *path)
{
	const char *db = getenv("FSFAULT_DB");

	return db && path && strncmp(path, db, strlen(db)) == 0;
}

/* Which file fd is: 0 not the database's (or its -shm, which is shared memory, not
 * storage), 1 the database or its journal, 2 its -wal. The path goes to `path` (4096
 * bytes) when not NULL. */
static int fd_path_kind(int fd, char *path)
{
	char link[64], own[4096];
	ssize_t n;

	if (!path)
		path = own;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, 4095);
	if (n <= 4)
		return 0;
	path[n] = '\0';
	if (!path_is_db(path) || strcmp(path + n - 4, "-shm") == 0)
		return 0;
	return strcmp(path + n - 4, "-wal") == 0 ? 2 : 1;
}

/* --- power loss: an undo log per file of everything written since its last sync --- */

struct undo {           /* one write or truncation, and how to take it back */
	off_t off;      /* where the overwritten bytes were */
	size_t len;     /* how many (0 when it only appended) */
	off_t size;     /* the file's size before it */
	char *old;      /* the overwritten bytes */
};

struct file {           /* one database file (the main file, -wal or -journal) */
	dev_t dev;
	ino_t ino;
	char path[4096];
	struct undo *log;
	size_t n, cap;
	struct file *next;
};

/* Held by every call on a database file from its fault check to its return, and by the
 * power cut until the SIGKILL: the files are never reverted under a write in flight. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct file *files;
static int powerloss;   /* FSFAULT_POWERLOSS, read once at load, before any thread */

__attribute__((constructor)) static void read_powerloss(void)
{
	const char *v = getenv("FSFAULT_POWERLOSS");

	powerloss = v && *v && strcmp(v, "0") != 0;
}

static int tracking(void)
{
	return powerloss;
}

static void oom(void)
{
	static const char msg[] = "fsfault: out of memory for the undo log\n";

	syscall(SYS_write, 2, msg, sizeof(msg) - 1);
	abort();
}

static struct file *file_of(int fd, const char *path, struct stat *st)
{
	struct file *f;

	if (syscall(SYS_fstat, fd, st))
		return NULL;
	for (f = files; f; f = f->next)
		if (f->dev == st->st_dev && f->ino == st->st_ino) {
			if (strcmp(f->path, path) != 0)   /* renamed: revert under the new name */
				snprintf(f->path, sizeof(f->path), "%s", path);
			return f;
		}
	if (!(f = calloc(1, sizeof(*f))))
		oom();
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->next = files;
	files = f;
	return f;
}

/* Before a write of n bytes at off (or, for a truncation, n = 0 and off the new size):
 * remember what it will overwrite or cut off and the size before it. */
static void undo_record(int fd, const char *path, off_t off, size_t n, int truncation)
{
	struct stat st;
	struct file *f = file_of(fd, path, &st);
	struct undo *u;
	off_t end;

	if (!f)
		return;
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		struct undo *log = realloc(f->log, cap * sizeof(*log));

		if (!log)
			oom();
		f->log = log;
		f->cap = cap;
	}
	u = &f->log[f->n++];
	*u = (struct undo){ .off = off, .size = st.st_size };
	end = truncation ? st.st_size : off + (off_t)n;
	if (end > st.st_size)
		end = st.st_size;
	if (end <= off)
		return;
	u->len = (size_t)(end - off);
	if (!(u->old = malloc(u->len)))
		oom();
	if (syscall(SYS_pread64, fd, u->old, u->len, off) != (long)u->len) {
		/* an fd opened write-only: read through a new one */
		long rfd = syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);

		if (rfd < 0 || syscall(SYS_pread64, (int)rfd, u->old, u->len, off) != (long)u->len) {
			static const char msg[] = "fsfault: cannot read what a write overwrites\n";

			syscall(SYS_write, 2, msg, sizeof(msg) - 1);
			abort();
		}
		syscall(SYS_close, (int)rfd);
	}
}

static void undo_forget(struct file *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->log[i].old);
	f->n = 0;
}

/* After a successful sync of fd: what its file holds is on the disk now. */
static void undo_synced(int fd)
{
	struct stat st;

	if (syscall(SYS_fstat, fd, &st))
		return;
	for (struct file *f = files; f; f = f->next)
		if (f->dev == st.st_dev && f->ino == st.st_ino)
			undo_forget(f);
}

/* A database file is being removed (mu held): its writes will never be reverted, and its
 * inode number may come back with the next file created (SQLite deletes the -journal and
 * creates the -wal in a row), which must not inherit them. */
static void undo_unlinked(const char *path)
{
	struct stat st;

	if (syscall(SYS_newfstatat, AT_FDCWD, path, &st, 0))
		return;
	for (struct file **p = &files; *p; p = &(*p)->next)
		if ((*p)->dev == st.st_dev && (*p)->ino == st.st_ino) {
			struct file *f = *p;

			*p = f->next;
			undo_forget(f);
			free(f->log);
			free(f);
			return;
		}
}

/* Take every unsynced write back, newest first, through raw system calls. A file that
 * was removed, or replaced by another under its name, has nothing left to revert. */
static void revert_all(void)
{
	size_t writes = 0, bytes = 0, nfiles = 0;
	char line[160];
	int len;

	for (struct file *f = files; f; f = f->next) {
		struct stat st;
		long fd;

		if (!f->n)
			continue;
		fd = syscall(SYS_openat, AT_FDCWD, f->path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (syscall(SYS_fstat, (int)fd, &st) == 0 && st.st_dev == f->dev && st.st_ino == f->ino) {
			for (size_t i = f->n; i-- > 0;) {
				struct undo *u = &f->log[i];

				if (u->len)
					syscall(SYS_pwrite64, (int)fd, u->old, u->len, u->off);
				syscall(SYS_ftruncate, (int)fd, u->size);
				bytes += u->len;
			}
			writes += f->n;
			nfiles++;
		}
		syscall(SYS_close, (int)fd);
	}
	len = snprintf(line, sizeof(line), "fsfault: power cut: undid %zu writes (%zu bytes "
		       "overwritten) in %zu files\n", writes, bytes, nfiles);
	syscall(SYS_write, 2, line, (size_t)len);
}

/* SIGKILL, after losing what a power cut would lose when power loss is modelled. Called
 * with mu held: no other thread writes a database file from here on. */
static void die(void)
{
	if (tracking())
		revert_all();
	raise(SIGKILL);
}

/* Whether some write to a database file is not synced yet (mu held). */
static int unsynced(void)
{
	for (struct file *f = files; f; f = f->next)
		if (f->n)
			return 1;
	return 0;
}

/* Watches the control file for a power cut every 2 ms, so a cut comes at any moment, also
 * between two calls and while cxd is idle; started by the first call on a database file. */
static void *watcher(void *arg)
{
	struct timespec ts = { .tv_nsec = 2000000 };
	int err;

	(void)arg;
	for (;;) {
		enum mode m;

		nanosleep(&ts, NULL);
		m = mode_now(&err);
		if (m == POWER_CUT || m == POWER_CUT_MID_WRITE) {
			pthread_mutex_lock(&mu);
			if (m == POWER_CUT || unsynced())
				die();
			pthread_mutex_unlock(&mu);
		}
	}
	return NULL;
}

static void start_watcher(void)
{
	pthread_t t;

	if (pthread_create(&t, NULL, watcher, NULL) == 0)
		pthread_detach(t);
}

static pthread_once_t watcher_once = PTHREAD_ONCE_INIT;

#define NEXT(name) static __typeof__(name) *next_##name; \
	if (!next_##name) next_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name)

/* The fault for a write-like call on a database file of the given kind, or 0 to let it
 * through. Called with mu held. */
static int write_fault(int fd, int kind, int is_write, int is_sync)
{
	int saved = errno, err = 0;
	enum mode m = mode_now(&err);

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
			die();
		return 0;
	case KILL_BEFORE_SYNC:
		if (kind == 2 && is_sync)
			die();
		return 0;
	case KILL_IN_CHECKPOINT:
		if (kind == 1 && is_write)
			die();
		return 0;
	case POWER_CUT:
		if (tracking())
			die();
		return 0;
	case POWER_CUT_MID_WRITE:
		if (tracking() && unsynced())
			die();
		return 0;
	default:
		return 0;
	}
}

/* Start of a call on fd: 0 when fd is not a database file (the call just goes through),
 * else its kind, with mu held until call_end. */
static int call_begin(int fd, char *path)
{
	int saved = errno, kind = fd_path_kind(fd, path);

	errno = saved;
	if (!kind)
		return 0;
	if (tracking())
		pthread_once(&watcher_once, start_watcher);
	pthread_mutex_lock(&mu);
	errno = saved;
	return kind;
}

static void call_end(int kind)
{
	if (kind) {
		int saved = errno;

		pthread_mutex_unlock(&mu);
		errno = saved;
	}
}

/* Before a write of n bytes at off (-1: at the file offset), or a truncation to off, of
 * a database file (mu held): the injected errno, or 0 after noting what to undo. */
static int before_write(int fd, int kind, const char *path, off_t off, size_t n, int truncation)
{
	int e = write_fault(fd, kind, 1, 0);

	if (e || !tracking())
		return e;
	if (off < 0)
		off = (off_t)syscall(SYS_lseek, fd, 0, SEEK_CUR);
	if (off >= 0)
		undo_record(fd, path, off, n, truncation);
	return 0;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	char path[4096];
	int kind = call_begin(fd, path), e;
	ssize_t rc = -1;
	NEXT(write);

	if ((e = kind ? before_write(fd, kind, path, -1, n, 0) : 0))
		errno = e;
	else
		rc = next_write(fd, buf, n);
	call_end(kind);
	return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	char path[4096];
	int kind = call_begin(fd, path), e;
	ssize_t rc = -1;
	NEXT(pwrite64);

	if ((e = kind ? before_write(fd, kind, path, off, n, 0) : 0))
		errno = e;
	else
		rc = next_pwrite64(fd, buf, n, off);
	call_end(kind);
	return rc;
}

int ftruncate64(int fd, off64_t len)
{
	char path[4096];
	int kind = call_begin(fd, path), e, rc = -1;
	NEXT(ftruncate64);

	if ((e = kind ? before_write(fd, kind, path, len, 0, 1) : 0))
		errno = e;
	else
		rc = next_ftruncate64(fd, len);
	call_end(kind);
	return rc;
}

/* A sync of fd through `real` (fdatasync or fsync): on success, what the file holds is
 * durable; in mode kill-after-sync, killed right after. */
static int tracked_sync(int fd, int (*real)(int))
{
	int kind = call_begin(fd, NULL), e, rc = -1, err;

	if ((e = kind ? write_fault(fd, kind, 0, 1) : 0)) {
		errno = e;
	} else {
		rc = real(fd);
		if (kind && rc == 0 && tracking())
			undo_synced(fd);
		if (kind == 2) {
			int saved = errno;

			if (mode_now(&err) == KILL_AFTER_SYNC)
				die();
			errno = saved;
		}
	}
	call_end(kind);
	return rc;
}

int fdatasync(int fd)
{
	NEXT(fdatasync);
	return tracked_sync(fd, next_fdatasync);
}

int fsync(int fd)
{
	NEXT(fsync);
	return tracked_sync(fd, next_fsync);
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

int unlink(const char *path)
{
	int rc, locked = path_is_db(path);
	NEXT(unlink);

	if (locked) {
		pthread_mutex_lock(&mu);
		undo_unlinked(path);
	}
	rc = next_unlink(path);
	if (locked) {
		int saved = errno;

		pthread_mutex_unlock(&mu);
		errno = saved;
	}
	return rc;
}
