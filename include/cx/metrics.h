/* metrics.h - counters for GET /metrics (Prometheus text format 0.0.4). Lock-free atomics;
 * any thread may record. */
#ifndef CX_METRICS_H
#define CX_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct cx_app;

/* A finished request: its route (index in the route table, or -1 for no route), status
 * and duration. */
void cx_metrics_request(int route, unsigned status, uint64_t usec);
/* An error answer, by its code (rate_limited, queue_full, ...). */
void cx_metrics_rejected(const char *code);
/* A group commit of n responses. */
void cx_metrics_commit(size_t n, int leader);
/* One catch-up of the rollups: n responses counted after their commit. */
void cx_metrics_counted(size_t n);
/* An alert emitted (alerts.h), by its event type. */
void cx_metrics_alert(const char *type);
/* A mint request's outcome: invitations minted and skipped (fatigue). */
void cx_metrics_invitations(size_t minted, size_t skipped);
/* The whole exposition, malloc'd. */
char *cx_metrics_render(struct cx_app *app);

#endif
