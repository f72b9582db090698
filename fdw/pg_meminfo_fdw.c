/*-------------------------------------------------------------------------
 *
 * pg_meminfo_fdw.c
 *		  Foreign data wrapper that reads per-process memory maps of this
 *		  cluster's processes from the pg_meminfo sidecar.
 *
 * A scan sends one request to the sidecar, naming the columns the query
 * needs and, when the query says "pid = ..." or "pid IN (...)", the pids.
 * The sidecar answers in COPY text format and the rows go through COPY's own
 * parser and each column's input function, one row at a time: nothing is
 * materialized and the per-row memory is reset by the executor.
 *
 * Read top to bottom in the order the planner and executor call in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/transam.h"
#include "catalog/pg_authid.h"
#include "commands/copy.h"
#include "commands/explain.h"
#include "executor/executor.h"
#if PG_VERSION_NUM >= 180000
#include "commands/explain_format.h"
#include "commands/explain_state.h"
#endif
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "pg_meminfo.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pg_meminfo_fdw_handler);

/*
 * Rough row counts for the planner; the sidecar cannot be asked while
 * planning (plain EXPLAIN must not need it), and the numbers only have to
 * be of the right order for join planning.
 */
#define EST_PROCESSES			100 /* processes of a cluster: backends and
									 * auxiliary processes */
#define EST_PIDS_IN_LIST		10	/* processes named by "pid IN (...)" */
#define EST_MAPPINGS_PER_PROC	300 /* lines of a backend's smaps */
#define EST_KINDS_PER_PROC		8	/* kinds of memory of one backend that
									 * have mappings (of the nine there are) */
#define EST_CONTEXTS_PER_PROC	120 /* memory contexts an idle backend logs */
#define EST_SAMPLES_PER_PROC	360 /* an hour of samples at the sidecar's
									 * default interval of 10 s */
#define EST_TIME_SELECTIVITY	0.1 /* of them, the part a time condition keeps */

/*
 * Costs.  Starting a scan means a connection, a request and the sidecar
 * opening /proc files: SIDECAR_STARTUP_COST, about ten sequential page
 * reads.  Each row is read from /proc by the sidecar, sent as text and
 * parsed by COPY's input functions: roughly SIDECAR_ROW_COST_FACTOR times
 * the work of a heap tuple (cpu_tuple_cost).
 */
#define SIDECAR_STARTUP_COST	10.0
#define SIDECAR_ROW_COST_FACTOR 10.0

/* Planner state, kept in baserel->fdw_private between planning callbacks. */
typedef struct MeminfoPlanState
{
	MeminfoSource source;			/* which rows the table holds */
	List	   *columns;		/* String nodes: columns the query needs */
	Expr	   *pid_clause;		/* clause pushed to the sidecar, or NULL */
	List	   *time_clauses;	/* "history": sampled_at clauses pushed */
	List	   *time_ops;		/* int list: their comparisons (MEMINFO_TIME_*) */
} MeminfoPlanState;

/* Executor state of one scan, in node->fdw_state. */
typedef struct MeminfoScanState
{
	MeminfoOptions opts;		/* resolved table and server options */
	Oid			role;			/* whose privileges the scan reads with */
	List	   *columns;		/* String nodes: columns asked for */
	ExprState  *pid_expr;		/* value side of the pushed pid clause */
	bool		pid_is_array;	/* pid_expr yields int4[] rather than int4 */
	List	   *time_exprs;		/* ExprStates: value sides of the time clauses */
	List	   *time_ops;		/* int list: their comparisons */
	bool		started;		/* request sent for the current (re)scan */
	bool		exhausted;		/* no (more) rows for this scan */
	MemoryContext request_cxt;	/* connection and COPY state; reset per scan */
	SidecarConn *conn;			/* the open connection, in request_cxt */
	CopyFromState cstate;		/* COPY parser reading the response */
	bool		after_backslash;	/* the body so far ends in an escaping '\\' */
	char	   *target;			/* request target of the current scan, in
								 * request_cxt, for the error context */
} MeminfoScanState;

/* COPY's data source callback has no argument: the scan it reads for. */
static MeminfoScanState *copy_source_scan = NULL;

/*
 * Error context callback, pushed while a scan talks to the sidecar: every
 * error then says which request it came from, as postgres_fdw's say which
 * remote SQL command.  arg is the request target, which holds no secret
 * (the signature is in the headers).
 */
static void
sidecar_request_error_callback(void *arg)
{
	errcontext("sidecar request: GET %s", (const char *) arg);
}

/*
 * Push sidecar_request_error_callback for target onto the error context
 * stack; the caller pops it by restoring callback->previous.
 */
static void
push_request_context(ErrorContextCallback *callback, const char *target)
{
	callback->callback = sidecar_request_error_callback;
	callback->arg = (void *) target;
	callback->previous = error_context_stack;
	error_context_stack = callback;
}

/*
 * COPY's data source: copies up to maxread bytes of the response body to
 * outbuf, at least minread unless the body ends; returns 0 only at its end.
 * COPY ends its input at an unescaped "\." and ignores the rest; the
 * sidecar escapes every backslash and never sends one, so one here means a
 * corrupt response, whose rows after it must not vanish without an error.
 */
static int
copy_source(void *outbuf, int minread, int maxread)
{
	MeminfoScanState *scan = copy_source_scan;
	int			n = sidecar_read_body(scan->conn, outbuf, minread, maxread);
	const char *p = outbuf;

	for (int i = 0; i < n; i++)
	{
		if (scan->after_backslash && p[i] == '.')
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("malformed response from pg_meminfo sidecar: end-of-data marker in the rows"),
					 errhint("Make sure the sidecar and the extension come from the same release.")));
		scan->after_backslash = !scan->after_backslash && p[i] == '\\';
	}
	return n;
}

/*
 * Planning
 */

/* The attribute number of column "name", or InvalidAttrNumber if none. */
static AttrNumber
find_column(TupleDesc tupdesc, const char *name)
{
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (!attr->attisdropped && strcmp(NameStr(attr->attname), name) == 0)
			return attr->attnum;
	}
	return InvalidAttrNumber;
}

/*
 * Refuse a table whose scan would run code of the table's owner as whoever
 * queries it: COPY fills a column the request does not carry from its
 * DEFAULT, and a domain's input checks its constraints.  Columns must be of
 * built-in types that are not domains, without defaults or generation
 * expressions, which pg_meminfo's tables never need (they are read-only).
 */
static void
check_table_columns(Relation rel)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (attr->attisdropped)
			continue;
		if (attr->atthasdef || attr->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of foreign table \"%s\" has a default or generation expression",
							NameStr(attr->attname), RelationGetRelationName(rel)),
					 errdetail("A pg_meminfo table is read-only; a scan would evaluate the expression as the role that queries it."),
					 errhint("Drop it: ALTER FOREIGN TABLE %s ALTER COLUMN %s DROP %s;",
							 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
														RelationGetRelationName(rel)),
							 quote_identifier(NameStr(attr->attname)),
							 attr->attgenerated ? "EXPRESSION" : "DEFAULT")));
		if (attr->atttypid >= FirstNormalObjectId || get_typtype(attr->atttypid) == TYPTYPE_DOMAIN)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("column \"%s\" of foreign table \"%s\" has type %s, which is not built in",
							NameStr(attr->attname), RelationGetRelationName(rel),
							format_type_be(attr->atttypid)),
					 errdetail("A scan would run the type's input checks as the role that queries the table."),
					 errhint("Use the built-in type of the column (see the extension's own tables), e.g. bigint or text.")));
	}
}

/*
 * The columns the query reads, in table order; the first column alone when
 * it reads none (count(*)), since every row still has to cross: "pid" for
 * the sources with one, the first of the table for "limits", which has none.
 */
static List *
needed_columns(RelOptInfo *baserel, TupleDesc tupdesc, MeminfoSource source)
{
	Bitmapset  *attrs_used = NULL;
	bool		whole_row;
	List	   *columns = NIL;
	ListCell   *lc;

	pull_varattnos((Node *) baserel->reltarget->exprs, baserel->relid, &attrs_used);
	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);

		pull_varattnos((Node *) rinfo->clause, baserel->relid, &attrs_used);
	}
	whole_row = bms_is_member(0 - FirstLowInvalidHeapAttributeNumber, attrs_used);

	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

		if (attr->attisdropped)
			continue;
		if (whole_row ||
			bms_is_member(attr->attnum - FirstLowInvalidHeapAttributeNumber, attrs_used))
			columns = lappend(columns, makeString(pstrdup(NameStr(attr->attname))));
	}
	if (columns == NIL && source == MEMINFO_SOURCE_LIMITS)
	{
		for (int i = 0; i < tupdesc->natts && columns == NIL; i++)
		{
			Form_pg_attribute attr = TupleDescAttr(tupdesc, i);

			if (!attr->attisdropped)
				columns = list_make1(makeString(pstrdup(NameStr(attr->attname))));
		}
	}
	if (columns == NIL)
		columns = list_make1(makeString(pstrdup("pid")));
	return columns;
}

/*
 * meminfoGetForeignRelSize
 *		Estimate the number of rows of the scan, and decide what to ask the
 *		sidecar for: the columns the query needs and a pid clause to push.
 *		Both are kept in baserel->fdw_private for GetForeignPlan.  Reads
 *		only catalogs, never the sidecar.
 */
static void
meminfoGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						 Oid foreigntableid)
{
	MeminfoPlanState *plan = palloc0(sizeof(MeminfoPlanState));
	MeminfoOptions opts;
	Relation	rel;
	double		processes;

	meminfo_get_options(foreigntableid, &opts);
	plan->source = opts.source;

	rel = table_open(foreigntableid, NoLock);
	check_table_columns(rel);
	plan->columns = needed_columns(baserel, RelationGetDescr(rel), opts.source);
	/* The limits have one row, the cluster's: nothing to filter by pid. */
	if (plan->source != MEMINFO_SOURCE_LIMITS)
		plan->pid_clause = meminfo_find_pid_clause(root, baserel,
												   find_column(RelationGetDescr(rel), "pid"));
	if (plan->source == MEMINFO_SOURCE_HISTORY)
		plan->time_clauses = meminfo_find_time_clauses(baserel,
													   find_column(RelationGetDescr(rel), "sampled_at"),
													   &plan->time_ops);
	table_close(rel, NoLock);

	/*
	 * A dump of memory contexts makes each backend write a few hundred lines
	 * to the server log: never of every backend by accident.
	 */
	if (plan->source == MEMINFO_SOURCE_CONTEXTS && plan->pid_clause == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot read the memory contexts of every backend"),
				 errdetail("A query of \"%s\" must name its backends with a condition on pid.",
						   get_rel_name(foreigntableid)),
				 errhint("Add WHERE pid = ... or pid = ANY(...); a dump of every backend floods the server log.")));

	if (plan->pid_clause == NULL)
		processes = EST_PROCESSES;
	else if (IsA(plan->pid_clause, OpExpr))
		processes = 1;
	else
		processes = EST_PIDS_IN_LIST;
	switch (plan->source)
	{
		case MEMINFO_SOURCE_SMAPS:
			baserel->rows = processes * EST_MAPPINGS_PER_PROC;
			break;
		case MEMINFO_SOURCE_BY_KIND:
			baserel->rows = processes * EST_KINDS_PER_PROC;
			break;
		case MEMINFO_SOURCE_CONTEXTS:
			baserel->rows = processes * EST_CONTEXTS_PER_PROC;
			break;
		case MEMINFO_SOURCE_SUMMARY:
			baserel->rows = processes;
			break;
		case MEMINFO_SOURCE_LIMITS:
			baserel->rows = 1;
			break;
		case MEMINFO_SOURCE_HISTORY:
			baserel->rows = processes * EST_SAMPLES_PER_PROC *
				(plan->time_clauses != NIL ? EST_TIME_SELECTIVITY : 1.0);
			break;
	}
	baserel->fdw_private = plan;
}

/*
 * meminfoGetForeignPaths
 *		Add the one access path there is: a scan of everything the request
 *		returns, unordered and unparameterized.
 */
static void
meminfoGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	Cost		startup_cost = SIDECAR_STARTUP_COST;
	Cost		total_cost = startup_cost +
		baserel->rows * cpu_tuple_cost * SIDECAR_ROW_COST_FACTOR;

	add_path(baserel, (Path *)
			 create_foreignscan_path(root, baserel, NULL, baserel->rows,
#if PG_VERSION_NUM >= 180000
									 0, /* disabled_nodes */
#endif
									 startup_cost, total_cost,
									 NIL, NULL, NULL,
#if PG_VERSION_NUM >= 170000
									 NIL,
#endif
									 NIL));
}

/*
 * meminfoGetForeignPlan
 *		Make the ForeignScan plan node.  Every restriction stays in the
 *		plan's qual for a local recheck; the pushed pid clause, then the
 *		pushed time clauses, also go to fdw_exprs, so setrefs fixes them up
 *		and the executor can evaluate their value sides.  fdw_private is a
 *		two-element list: the List of column names to ask for, and the int
 *		list of the time clauses' comparisons.
 */
static ForeignScan *
meminfoGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid, ForeignPath *best_path,
					  List *tlist, List *scan_clauses, Plan *outer_plan)
{
	MeminfoPlanState *plan = (MeminfoPlanState *) baserel->fdw_private;

	List	   *pushed = plan->pid_clause ? list_make1(plan->pid_clause) : NIL;

	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid,
							list_concat(pushed, plan->time_clauses),
							list_make2(plan->columns, plan->time_ops),
							NIL, NIL, outer_plan);
}

/*
 * Execution
 */

/* The time clauses among a plan's fdw_exprs: those after the pid clause. */
static List *
pushed_time_clauses(ForeignScan *fsplan)
{
	List	   *ops = (List *) lsecond(fsplan->fdw_private);
	int			skip = list_length(fsplan->fdw_exprs) - list_length(ops);

	return list_copy_tail(fsplan->fdw_exprs, skip);
}

/* The pid clause among a plan's fdw_exprs, or NULL. */
static Expr *
pushed_pid_clause(ForeignScan *fsplan)
{
	List	   *ops = (List *) lsecond(fsplan->fdw_private);

	return list_length(fsplan->fdw_exprs) > list_length(ops) ? linitial(fsplan->fdw_exprs) : NULL;
}

/*
 * meminfoBeginForeignScan
 *		Set up the executor state of a scan.  Nothing is sent yet: the
 *		request goes out on the first IterateForeignScan, when parameters of
 *		the pid clause have their values.  Under plain EXPLAIN the state is
 *		left NULL and nothing else is done.
 */
static void
meminfoBeginForeignScan(ForeignScanState *node, int eflags)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	MeminfoScanState *state;

	/* Plain EXPLAIN needs nothing from the sidecar. */
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;

	state = palloc0(sizeof(MeminfoScanState));
	/*
	 * The role PostgreSQL checked the table's privileges for: through a
	 * view, the view's owner (as postgres_fdw picks its user mapping).
	 */
#if PG_VERSION_NUM >= 160000
	state->role = OidIsValid(fsplan->checkAsUser) ? fsplan->checkAsUser : GetUserId();
#else
	{
		RangeTblEntry *rte = exec_rt_fetch(fsplan->scan.scanrelid, node->ss.ps.state);

		state->role = OidIsValid(rte->checkAsUser) ? rte->checkAsUser : GetUserId();
	}
#endif
	meminfo_get_options(RelationGetRelid(node->ss.ss_currentRelation), &state->opts);
	state->columns = (List *) linitial(fsplan->fdw_private);
	state->time_ops = (List *) lsecond(fsplan->fdw_private);
	if (list_length(fsplan->fdw_exprs) > list_length(state->time_ops))
		state->pid_expr = meminfo_init_pid_expr(linitial(fsplan->fdw_exprs),
												&node->ss.ps, &state->pid_is_array);
	state->time_exprs = meminfo_init_time_exprs(pushed_time_clauses(fsplan),
												&node->ss.ps);
	state->request_cxt = AllocSetContextCreate(node->ss.ps.state->es_query_cxt,
											   "pg_meminfo request",
											   ALLOCSET_DEFAULT_SIZES);
	node->fdw_state = state;
}

/* Append s to buf, percent-encoding all but letters, digits and '_'. */
static void
append_query_value(StringInfo buf, const char *s)
{
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (isalnum(c) || c == '_')
			appendStringInfoChar(buf, c);
		else
			appendStringInfo(buf, "%%%02X", c);
	}
}

/*
 * The request target for this scan, palloc'd in the current memory context:
 * "/v1/<source>?columns=a,b", when pids is not NIL "&pid=1,2", and the time
 * bounds when there are any.
 */
static char *
request_target(MeminfoScanState *state, List *pids, const MeminfoTimeBounds *times)
{
	StringInfoData target;
	ListCell   *lc;

	initStringInfo(&target);
	appendStringInfo(&target, "%s?columns=", meminfo_source_path(state->opts.source));
	foreach(lc, state->columns)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&target, ',');
		append_query_value(&target, strVal(lfirst(lc)));
	}
	foreach(lc, pids)
		appendStringInfo(&target, "%s%d", foreach_current_index(lc) == 0 ? "&pid=" : ",",
						 lfirst_int(lc));
	meminfo_append_time_params(&target, times);
	return target.data;
}

/*
 * Raise an error unless role has the privileges of pg_read_all_stats,
 * whatever grants the table has: memory maps show what other sessions run.
 */
static void
check_privileges(Oid role)
{
	const char *name;

	if (has_privs_of_role(role, ROLE_PG_READ_ALL_STATS))
		return;
	name = quote_identifier(GetUserNameFromId(role, false));
	/* A member that does not inherit has the role but not its privileges. */
	if (is_member_of_role(role, ROLE_PG_READ_ALL_STATS))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read memory maps of PostgreSQL processes"),
				 errdetail("Role %s is a member of pg_read_all_stats but does not inherit its privileges.", name),
				 errhint("Run SET ROLE pg_read_all_stats first, or let the role inherit them: ALTER ROLE %s INHERIT (on PostgreSQL 16 and later, GRANT pg_read_all_stats TO %s WITH INHERIT TRUE).",
						 name, name)));
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to read memory maps of PostgreSQL processes"),
			 errdetail("Only superusers and roles with the privileges of pg_read_all_stats may read them."),
			 errhint("An administrator can allow it with: GRANT pg_read_all_stats TO %s;", name)));
}

/*
 * Send the request for this (re)scan and set COPY up to read the answer,
 * or set state->exhausted when the pid clause matches no row and nothing
 * need be asked.  The privilege check comes first, so a role that may not
 * see the rows never reaches the sidecar.  The connection and COPY state
 * live in request_cxt, whose reset closes the connection.
 */
static void
start_request(ForeignScanState *node, MeminfoScanState *state)
{
	List	   *pids = NIL;
	bool		no_rows = false;
	MeminfoTimeBounds times;
	MemoryContext oldcxt;
	ErrorContextCallback errcallback;

	check_privileges(state->role);
	state->started = true;

	if (state->pid_expr)
		pids = meminfo_eval_pids(state->pid_expr, state->pid_is_array,
								 node->ss.ps.ps_ExprContext, &no_rows);
	meminfo_eval_time_bounds(state->time_exprs, state->time_ops,
							 node->ss.ps.ps_ExprContext, &times);
	no_rows = no_rows || times.no_rows;
	if (no_rows)
	{
		state->exhausted = true;
		return;
	}

	oldcxt = MemoryContextSwitchTo(state->request_cxt);
	state->after_backslash = false;
	state->target = request_target(state, pids, &times);
	push_request_context(&errcallback, state->target);

	state->conn = sidecar_open(state->opts.socket_path, state->opts.timeout_ms);
	sidecar_limit_body(state->conn, state->opts.max_response_size);
	sidecar_request(state->conn, state->target, state->role);
	state->cstate = BeginCopyFrom(NULL, node->ss.ss_currentRelation, NULL,
								  NULL, false, copy_source, state->columns,
								  list_make2(makeDefElem("format", (Node *) makeString("text"), -1),
											 makeDefElem("encoding", (Node *) makeString("UTF8"), -1)));

	error_context_stack = errcallback.previous;
	MemoryContextSwitchTo(oldcxt);
}

/*
 * meminfoIterateForeignScan
 *		Return the next row in the scan tuple slot, or an empty slot at the
 *		end.  The first call of a (re)scan sends the request.  Each row is
 *		read and parsed by COPY in the per-tuple memory the executor resets.
 */
static TupleTableSlot *
meminfoIterateForeignScan(ForeignScanState *node)
{
	MeminfoScanState *state = (MeminfoScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ErrorContextCallback request_errcallback;
	ErrorContextCallback errcallback;
	bool		found;

	ExecClearTuple(slot);
	if (!state->started)
		start_request(node, state);
	if (state->exhausted)
		return slot;

	/*
	 * Errors while reading say which request; COPY's own callback, inside
	 * it, names the table, line and column of a bad row.
	 */
	push_request_context(&request_errcallback, state->target);
	errcallback.callback = CopyFromErrorCallback;
	errcallback.arg = (void *) state->cstate;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	copy_source_scan = state;
	found = NextCopyFrom(state->cstate, node->ss.ps.ps_ExprContext,
						 slot->tts_values, slot->tts_isnull);

	error_context_stack = request_errcallback.previous;

	if (found)
		ExecStoreVirtualTuple(slot);
	else
		state->exhausted = true;
	return slot;
}

/*
 * Drop the connection and COPY state of the current request, if any; the
 * reset of request_cxt closes the socket.
 */
static void
end_request(MeminfoScanState *state)
{
	if (state->cstate)
		EndCopyFrom(state->cstate);
	state->cstate = NULL;
	state->conn = NULL;
	MemoryContextReset(state->request_cxt);
}

/*
 * meminfoReScanForeignScan
 *		Restart the scan: the current request is dropped and the next
 *		IterateForeignScan sends a new one, with the pid clause evaluated
 *		again (its parameters may have changed).
 */
static void
meminfoReScanForeignScan(ForeignScanState *node)
{
	MeminfoScanState *state = (MeminfoScanState *) node->fdw_state;

	end_request(state);
	state->started = false;
	state->exhausted = false;
}

/*
 * meminfoEndForeignScan
 *		End the scan and release its connection and memory.  The state is
 *		NULL under plain EXPLAIN.
 */
static void
meminfoEndForeignScan(ForeignScanState *node)
{
	MeminfoScanState *state = (MeminfoScanState *) node->fdw_state;

	if (state == NULL)
		return;
	end_request(state);
	MemoryContextDelete(state->request_cxt);
}

/*
 * meminfoExplainForeignScan
 *		Under EXPLAIN VERBOSE, show what is asked of the sidecar: the path,
 *		the columns and the pushed pid and time filters.  Works without the
 *		sidecar and with a NULL fdw_state.
 */
static void
meminfoExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	MeminfoOptions opts;
	StringInfoData columns;
	Expr	   *pid_clause = pushed_pid_clause(fsplan);
	List	   *time_clauses = pushed_time_clauses(fsplan);
	List	   *context = NIL;
	ListCell   *lc;

	if (!es->verbose)
		return;

	meminfo_get_options(RelationGetRelid(node->ss.ss_currentRelation), &opts);
	initStringInfo(&columns);
	foreach(lc, (List *) linitial(fsplan->fdw_private))
		appendStringInfo(&columns, "%s%s", columns.len > 0 ? ", " : "", strVal(lfirst(lc)));

	ExplainPropertyText("Sidecar Request", meminfo_source_path(opts.source), es);
	ExplainPropertyText("Sidecar Columns", columns.data, es);
	if (fsplan->fdw_exprs != NIL)
		context = set_deparse_context_plan(es->deparse_cxt, node->ss.ps.plan, NIL);
	if (pid_clause != NULL)
		ExplainPropertyText("Sidecar Pid Filter",
							deparse_expression((Node *) pid_clause, context, false, false),
							es);
	if (time_clauses != NIL)
	{
		StringInfoData filter;

		initStringInfo(&filter);
		foreach(lc, time_clauses)
			appendStringInfo(&filter, "%s%s", filter.len > 0 ? " AND " : "",
							 deparse_expression(lfirst(lc), context, false, false));
		ExplainPropertyText("Sidecar Time Filter", filter.data, es);
	}
}

/*
 * Foreign-data wrapper handler: returns the FdwRoutine with the callbacks
 * above.  Only scans are supported; the tables are read-only.
 */
Datum
pg_meminfo_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	routine->GetForeignRelSize = meminfoGetForeignRelSize;
	routine->GetForeignPaths = meminfoGetForeignPaths;
	routine->GetForeignPlan = meminfoGetForeignPlan;
	routine->BeginForeignScan = meminfoBeginForeignScan;
	routine->IterateForeignScan = meminfoIterateForeignScan;
	routine->ReScanForeignScan = meminfoReScanForeignScan;
	routine->EndForeignScan = meminfoEndForeignScan;
	routine->ExplainForeignScan = meminfoExplainForeignScan;

	PG_RETURN_POINTER(routine);
}
