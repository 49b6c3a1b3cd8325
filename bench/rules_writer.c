/* bench/rules_writer.c - what a survey's rules cost the writer thread, without HTTP.
 *
 * Appends responses as the writer does (groups of 16 per transaction, each response
 * followed by cx_loop_on_response, commit with synchronous=FULL) into a fresh database,
 * for four setups, and prints the writer's CPU and wall time per response:
 *   none       the writer without cx_loop_on_response (as before issue 12)
 *   rules0     cx_loop_on_response, no rules (response.created is built, nobody subscribes)
 *   nomatch10  10 rules, none matches (the walk alone)
 *   rules10    10 rules, 5 of which match some responses (1.42 webhook deliveries each)
 * The responses are those of ../shared/bench/post.lua (nps n%11, stages rotating, a
 * comment and a customer on each). Build against a release build (bench/run's or any):
 *
 *   meson setup /tmp/rel --buildtype=release -Dtests=disabled && ninja -C /tmp/rel
 *   cc -O2 -Iinclude -I/tmp/rel bench/rules_writer.c /tmp/rel/libcx.a -o /tmp/rules_writer \
 *      $(pkg-config --cflags --libs libmicrohttpd jansson sqlite3 gnutls) -lpthread -lm
 *   /tmp/rules_writer [responses per setup, default 20000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cx/cxtime.h"
#include "cx/loop.h"
#include "cx/rule.h"
#include "cx/store.h"

static const char *const stages[] = { "awareness", "interest", "consideration", "purchase",
				      "retention", "advocacy" };

static const char *const rules10[] = {
	"{\"id\":\"r1\",\"name\":\"detractor purchase\",\"when\":{\"nps\":{\"max\":6},\"stages\":[\"purchase\"]},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
	"{\"id\":\"r2\",\"name\":\"promoter advocacy\",\"when\":{\"nps\":{\"min\":9},\"stages\":[\"advocacy\"],\"has_customer\":true},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"referrals\"}]}",
	"{\"id\":\"r3\",\"name\":\"every comment\",\"when\":{\"has_comment\":true},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
	"{\"id\":\"r4\",\"name\":\"low csat\",\"when\":{\"csat\":{\"max\":2}},\"actions\":[{\"type\":\"case\",\"assignee\":\"team\"}]}",
	"{\"id\":\"r5\",\"name\":\"high effort\",\"when\":{\"ces\":{\"min\":6}},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
	"{\"id\":\"r6\",\"name\":\"enterprise\",\"when\":{\"segments\":[\"enterprise\"]},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
	"{\"id\":\"r7\",\"name\":\"app\",\"when\":{\"channels\":[\"app\",\"phone\"]},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
	"{\"id\":\"r8\",\"name\":\"pos\",\"when\":{\"touchpoints\":[\"pos\"],\"nps\":{\"max\":3}},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
	"{\"id\":\"r9\",\"name\":\"anon\",\"when\":{\"has_customer\":false},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
	"{\"id\":\"r10\",\"name\":\"off\",\"enabled\":false,\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}",
};
#define NOMATCH "{\"id\":\"n%d\",\"name\":\"never\",\"when\":{\"nps\":{\"max\":6},\"segments\":[\"enterprise\"]},\"actions\":[{\"type\":\"webhook\",\"endpoint\":\"support-desk\"}]}"

static double now_s(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct cx_error *err)
{
	fprintf(stderr, "rules_writer: %s: %s\n", what, err->message);
	exit(1);
}

static void add_rule(struct cx_store *st, const char *text)
{
	struct cx_error err = { 0 };
	struct cx_rule r;
	json_t *body = json_loads(text, 0, NULL);

	if (!body || cx_rule_from_json(body, NULL, NULL, &r, &err) ||
	    cx_store_rule_put(st, "checkout", &r, 1, NULL, NULL, &err))
		die("rule", &err);
	cx_rule_release(&r);
	json_decref(body);
}

static void run(const char *setup, int n, const char *dir)
{
	char path[512], sql[1024];
	struct cx_store *st;
	struct cx_error err = { 0 };
	struct cx_survey s;
	json_t *def = json_pack("{s:s, s:s}", "id", "checkout", "title", "Checkout");
	int created, loop = strcmp(setup, "none") != 0;
	double c0, w0;

	snprintf(path, sizeof(path), "%s/%s.db", dir, setup);
	if (cx_store_open(&st, path, 1, &err))
		die("open", &err);
	if (cx_survey_from_json(def, NULL, &s, &err) || cx_store_survey_put(st, &s, 0, &created, &err))
		die("survey", &err);
	cx_survey_release(&s);
	json_decref(def);
	snprintf(sql, sizeof(sql), "sqlite3 %s \"INSERT INTO endpoints(id, url, secret, created_at, "
		 "updated_at) VALUES ('support-desk', 'https://d.example/', 'whsec_x', 0, 0), "
		 "('referrals', 'https://r.example/', 'whsec_x', 0, 0)\"", path);
	if (system(sql) != 0)
		exit(1);
	if (strcmp(setup, "rules10") == 0)
		for (size_t i = 0; i < sizeof(rules10) / sizeof(rules10[0]); i++)
			add_rule(st, rules10[i]);
	if (strcmp(setup, "nomatch10") == 0)
		for (int i = 0; i < 10; i++) {
			char text[512];

			snprintf(text, sizeof(text), NOMATCH, i);
			add_rule(st, text);
		}
	c0 = now_s(CLOCK_THREAD_CPUTIME_ID);
	w0 = now_s(CLOCK_MONOTONIC);
	for (int i = 0; i < n; i += 16) {
		struct cx_response r[16];

		if (cx_store_begin(st, &err))
			die("begin", &err);
		for (int k = 0; k < 16; k++) {
			int m = i + k, replayed;
			char customer[32];
			int64_t id;

			memset(&r[k], 0, sizeof(r[k]));
			strcpy(r[k].survey, "checkout");
			snprintf(customer, sizeof(customer), "c%d", m);
			r[k].stage = strdup(stages[m % 6]);
			r[k].touchpoint = strdup("web");
			r[k].channel = strdup("web");
			r[k].segment = strdup("new");
			r[k].customer = strdup(customer);
			r[k].comment = strdup("fast delivery");
			r[k].nps = m % 11;
			r[k].csat = m % 5 + 1;
			r[k].ces = m % 7 + 1;
			r[k].submitted_at = cx_time_now();
			r[k].received_ms = cx_time_now_ms();
			r[k].learn = 1;   /* a keyed client, an open survey */
			if (cx_store_job_begin(st, 0, &err) ||
			    cx_store_append(st, &r[k], NULL, &id, &replayed, &err) ||
			    (loop && cx_loop_on_response(st, &r[k], id, &err)))
				die("append", &err);
			cx_store_job_end(st, 1);
		}
		if (cx_store_commit(st, &err))
			die("commit", &err);
		for (int k = 0; k < 16; k++)
			cx_response_release(&r[k]);
	}
	printf("%-10s %7.1f us CPU, %7.1f us wall per response\n", setup,
	       (now_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e6 / n,
	       (now_s(CLOCK_MONOTONIC) - w0) * 1e6 / n);
	cx_store_close(st);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/cx-rules-writer-XXXXXX", cmd[128];
	int n = argc > 1 ? atoi(argv[1]) : 20000;

	if (!mkdtemp(dir))
		return 1;
	for (int rep = 0; rep < 2; rep++)
		for (const char *const *s = (const char *const[]){ "none", "rules0", "nomatch10",
								   "rules10", NULL }; *s; s++) {
			run(*s, n, dir);
			snprintf(cmd, sizeof(cmd), "rm -f %s/*.db*", dir);
			if (system(cmd) != 0)
				return 1;
		}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) != 0;
}
