/*-------------------------------------------------------------------------
 *
 * pg_meminfo.h
 *		  Declarations shared by the pieces of the pg_meminfo foreign data
 *		  wrapper: options, pid pushdown and the sidecar client.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_MEMINFO_H
#define PG_MEMINFO_H

#include "lib/stringinfo.h"
#include "nodes/execnodes.h"
#include "nodes/pathnodes.h"

/*
 * Most pids sent to the sidecar, the most its "pid" parameter accepts
 * (docs/protocol.md); a longer list is filtered locally instead.
 */
#define MEMINFO_MAX_PUSHED_PIDS 1000

/*
 * Inactivity timeout when the server has no "timeout" option, in ms: the
 * longest the sidecar may stay silent, not the length of the scan.  The
 * sidecar streams rows as it reads them, so a busy one is never silent for
 * long; 10 s tells a stopped sidecar from a busy one without leaving a
 * query hanging for long.
 */
#define MEMINFO_DEFAULT_TIMEOUT_MS 10000

/*
 * Most bytes of rows per scan when the server has no "max_response_size":
 * 1GB, far more than the smaps of thousands of backends, so only a runaway
 * response hits it.
 */
#define MEMINFO_DEFAULT_MAX_RESPONSE_SIZE (INT64CONST(1) << 30)

/*
 * What a foreign table reads: one row per mapping, one per process, one per
 * process and kind of memory, one per memory context of a backend (from
 * a dump it writes to the server log, so only for the pids a query names),
 * the cluster's memory limits, or one row per sample the sidecar took of a
 * process's memory.
 */
typedef enum MeminfoSource
{
	MEMINFO_SOURCE_SMAPS,
	MEMINFO_SOURCE_SUMMARY,
	MEMINFO_SOURCE_BY_KIND,
	MEMINFO_SOURCE_CONTEXTS,
	MEMINFO_SOURCE_LIMITS,
	MEMINFO_SOURCE_HISTORY
} MeminfoSource;

/* A pushed time comparison, read as "sampled_at <op> value". */
#define MEMINFO_TIME_LT 0
#define MEMINFO_TIME_LE 1
#define MEMINFO_TIME_EQ 2
#define MEMINFO_TIME_GE 3
#define MEMINFO_TIME_GT 4

/*
 * The pushed time clauses of a scan, evaluated and folded into at most one
 * lower and one upper bound, in microseconds since the Unix epoch.
 */
typedef struct MeminfoTimeBounds
{
	bool		no_rows;		/* no sample can match */
	bool		has_lower;
	bool		lower_strict;	/* ">" rather than ">=" */
	int64		lower_us;
	bool		has_upper;
	bool		upper_strict;	/* "<" rather than "<=" */
	int64		upper_us;
} MeminfoTimeBounds;

/* The options of one foreign table and its server, resolved. */
typedef struct MeminfoOptions
{
	MeminfoSource source;		/* table option "source" */
	char	   *socket_path;	/* server option "socket", or the default */
	int			timeout_ms;		/* server option "timeout", in ms */
	int64		max_response_size;	/* server option "max_response_size" */
} MeminfoOptions;

/* options.c */
extern void meminfo_get_options(Oid foreigntableid, MeminfoOptions *opts);
extern const char *meminfo_source_path(MeminfoSource source);

/* pid_filter.c */
extern bool meminfo_is_column_var(Node *node, RelOptInfo *baserel,
								  AttrNumber attno);
extern bool meminfo_is_scan_constant(Node *node);
extern Expr *meminfo_find_pid_clause(PlannerInfo *root, RelOptInfo *baserel,
									 AttrNumber pid_attno);
extern ExprState *meminfo_init_pid_expr(Expr *clause, PlanState *ps,
										bool *is_array);
extern List *meminfo_eval_pids(ExprState *state, bool is_array,
							   ExprContext *econtext, bool *no_rows);

/* time_filter.c */
extern List *meminfo_find_time_clauses(RelOptInfo *baserel, AttrNumber attno,
									   List **ops);
extern List *meminfo_init_time_exprs(List *clauses, PlanState *ps);
extern void meminfo_eval_time_bounds(List *states, List *ops,
									 ExprContext *econtext,
									 MeminfoTimeBounds *bounds);
extern void meminfo_append_time_params(StringInfo target,
									   const MeminfoTimeBounds *bounds);

/* request_signature.c */
extern void sidecar_sign_request(StringInfo req, const char *secret_path,
								 const char *target, Oid role,
								 const char *cluster);

/* sidecar_client.c */
typedef struct SidecarConn SidecarConn;

extern SidecarConn *sidecar_open(const char *socket_path, int timeout_ms);
extern void sidecar_request(SidecarConn *conn, const char *target, Oid role);
extern void sidecar_limit_body(SidecarConn *conn, int64 max_bytes);
extern int	sidecar_read_body(SidecarConn *conn, char *buf, int minread,
							  int maxread);

#endif							/* PG_MEMINFO_H */
