/* bench/mhd_handoff.c - the HTTP ceiling of cxd's shape of POST: libmicrohttpd reads the
 * body, the final call suspends the connection and queues it for a second thread, which
 * resumes every queued connection at once (as cxd's writer does after a group commit),
 * and the resumed call answers 201 with a fixed body. No parsing, no SQL, no disk: what
 * the hand-off alone costs. With "direct" it answers in the final call instead (no
 * suspend/resume: ../shared/bench/mhd_limit.c's ceiling). Listens on 127.0.0.1 only.
 * bench/run builds and loads both beside nginx; by hand:
 *
 *   cc -O2 -o /tmp/mhd_handoff bench/mhd_handoff.c $(pkg-config --cflags --libs libmicrohttpd) -lpthread
 *   /tmp/mhd_handoff 2 18085 [direct]      (THREADS PORT; stop it with SIGTERM)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct req {
	size_t n;
	int resumed;
	struct MHD_Connection *conn;
	struct req *next;
	char body[4096];
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct req *queued;
static int direct;   /* answer in the final call: no hand-off */

static void *resumer(void *arg)
{
	(void)arg;
	for (;;) {
		struct req *r, *next;

		pthread_mutex_lock(&mu);
		while (!queued)
			pthread_cond_wait(&cv, &mu);
		r = queued;
		queued = NULL;
		pthread_mutex_unlock(&mu);
		for (; r; r = next) {
			next = r->next;
			r->resumed = 1;
			MHD_resume_connection(r->conn);
		}
	}
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *size, void **ctx)
{
	static const char reply[] = "{\"id\":1}";
	struct req *r = *ctx;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls, (void)url, (void)method, (void)version;
	if (!r) {
		if (!(r = calloc(1, sizeof(*r))))
			return MHD_NO;
		*ctx = r;
		return MHD_YES;
	}
	if (*size) {
		if (r->n + *size < sizeof(r->body)) {
			memcpy(r->body + r->n, data, *size);
			r->n += *size;
		}
		*size = 0;
		return MHD_YES;
	}
	if (!r->resumed && !direct) {
		r->conn = conn;
		MHD_suspend_connection(conn);
		pthread_mutex_lock(&mu);
		r->next = queued;
		queued = r;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(sizeof(reply) - 1, (void *)reply, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, 201, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **ctx,
			 enum MHD_RequestTerminationCode why)
{
	(void)cls, (void)conn, (void)why;
	free(*ctx);
	*ctx = NULL;
}

int main(int argc, char **argv)
{
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	uint16_t port = (uint16_t)(argc > 2 ? atoi(argv[2]) : 18085);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct MHD_Daemon *d;
	pthread_t t;

	direct = argc > 3 && strcmp(argv[3], "direct") == 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!direct && pthread_create(&t, NULL, resumer, NULL))
		return 1;
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME,
			     port, NULL, NULL, on_request, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_THREAD_POOL_SIZE, threads,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "mhd_handoff: cannot listen on 127.0.0.1:%u\n", port);
		return 1;
	}
	pause();
	return 0;
}
