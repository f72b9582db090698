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
#include "catalog/pg_authid.h"
#include "commands/copy.h"
#include "commands/explain.h"
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
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"

#include "pg_meminfo.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pg_meminfo_fdw_handler);

/* Rough row counts for the planner. */
#define EST_PROCESSES			100 /* processes of a cluster */
#define EST_MAPPINGS_PER_PROC	300 /* mappings of one backend */
#define EST_KINDS_PER_PROC		8	/* kinds of memory of one backend */

/* Planner state, kept in baserel->fdw_private between planning callbacks. */
typedef struct MeminfoPlanState
{
	MeminfoKind kind;			/* which rows the table holds */
	List	   *columns;		/* String nodes: columns the query needs */
	Expr	   *pid_clause;		/* clause pushed to the sidecar, or NULL */
} MeminfoPlanState;

/* Executor state of one scan, in node->fdw_state. */
typedef struct MeminfoScanState
{
	MeminfoOptions opts;		/* resolved table and server options */
	List	   *columns;		/* String nodes: columns asked for */
	ExprState  *pid_expr;		/* value side of the pushed pid clause */
	bool		pid_is_array;	/* pid_expr yields int4[] rather than int4 */
	bool		started;		/* request sent for the current (re)scan */
	bool		exhausted;		/* no (more) rows for this scan */
	MemoryContext request_cxt;	/* connection and COPY state; reset per scan */
	SidecarConn *conn;			/* the open connection, in request_cxt */
	CopyFromState cstate;		/* COPY parser reading the response */
	bool		after_backslash;	/* the body so far ends in an escaping '\\' */
} MeminfoScanState;

/* COPY's data source callback has no argument: the scan it reads for. */
static MeminfoScanState *copy_source_scan = NULL;

/*
 * COPY's data source: the response body.  COPY ends its input at an
 * unescaped "\." and ignores the rest; the sidecar escapes every backslash
 * and never sends one, so one here means a corrupt response, whose rows
 * after it must not vanish without an error.
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
 * The columns the query reads, in table order; "pid" alone when it reads
 * none (count(*)), since every row still has to cross.
 */
static List *
needed_columns(RelOptInfo *baserel, TupleDesc tupdesc)
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
	if (columns == NIL)
		columns = list_make1(makeString(pstrdup("pid")));
	return columns;
}

static void
meminfoGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel,
						 Oid foreigntableid)
{
	MeminfoPlanState *plan = palloc0(sizeof(MeminfoPlanState));
	MeminfoOptions opts;
	Relation	rel;
	double		processes;

	meminfo_get_options(foreigntableid, &opts);
	plan->kind = opts.kind;

	rel = table_open(foreigntableid, NoLock);
	plan->columns = needed_columns(baserel, RelationGetDescr(rel));
	plan->pid_clause = meminfo_find_pid_clause(root, baserel,
											   find_column(RelationGetDescr(rel), "pid"));
	table_close(rel, NoLock);

	if (plan->pid_clause == NULL)
		processes = EST_PROCESSES;
	else if (IsA(plan->pid_clause, OpExpr))
		processes = 1;
	else
		processes = 10;
	baserel->rows = processes *
		(plan->kind == MEMINFO_KIND_SMAPS ? EST_MAPPINGS_PER_PROC :
		 plan->kind == MEMINFO_KIND_BY_KIND ? EST_KINDS_PER_PROC : 1);
	baserel->fdw_private = plan;
}

static void
meminfoGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel,
					   Oid foreigntableid)
{
	Cost		startup_cost = 10;
	Cost		total_cost = startup_cost + baserel->rows * cpu_tuple_cost * 10;

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
 * Every restriction stays in the plan's qual for a local recheck; the pushed
 * pid clause also goes to fdw_exprs, so setrefs fixes it up and the executor
 * can evaluate its value side.
 */
static ForeignScan *
meminfoGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel,
					  Oid foreigntableid, ForeignPath *best_path,
					  List *tlist, List *scan_clauses, Plan *outer_plan)
{
	MeminfoPlanState *plan = (MeminfoPlanState *) baserel->fdw_private;

	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid,
							plan->pid_clause ? list_make1(plan->pid_clause) : NIL,
							list_make1(plan->columns),
							NIL, NIL, outer_plan);
}

/*
 * Execution
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
	meminfo_get_options(RelationGetRelid(node->ss.ss_currentRelation), &state->opts);
	state->columns = (List *) linitial(fsplan->fdw_private);
	if (fsplan->fdw_exprs != NIL)
		state->pid_expr = meminfo_init_pid_expr(linitial(fsplan->fdw_exprs),
												&node->ss.ps, &state->pid_is_array);
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

static char *
request_target(MeminfoScanState *state, List *pids)
{
	StringInfoData target;
	ListCell   *lc;

	initStringInfo(&target);
	appendStringInfo(&target, "%s?columns=", meminfo_kind_path(state->opts.kind));
	foreach(lc, state->columns)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&target, ',');
		append_query_value(&target, strVal(lfirst(lc)));
	}
	foreach(lc, pids)
		appendStringInfo(&target, "%s%d", foreach_current_index(lc) == 0 ? "&pid=" : ",",
						 lfirst_int(lc));
	return target.data;
}

static void
check_privileges(void)
{
	Oid			role = GetUserId();

	if (!has_privs_of_role(role, ROLE_PG_READ_ALL_STATS))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to read memory maps of PostgreSQL processes"),
				 errdetail("Only superusers and roles with the privileges of pg_read_all_stats may read them."),
				 errhint("An administrator can allow it with: GRANT pg_read_all_stats TO %s;",
						 quote_identifier(GetUserNameFromId(role, false)))));
}

/*
 * Send the request for this (re)scan and set COPY up to read the answer.
 * The privilege check comes first, so a role that may not see the rows never
 * reaches the sidecar.
 */
static void
start_request(ForeignScanState *node, MeminfoScanState *state)
{
	List	   *pids = NIL;
	bool		no_rows = false;
	MemoryContext oldcxt;

	check_privileges();
	state->started = true;

	if (state->pid_expr)
		pids = meminfo_eval_pids(state->pid_expr, state->pid_is_array,
								 node->ss.ps.ps_ExprContext, &no_rows);
	if (no_rows)
	{
		state->exhausted = true;
		return;
	}

	oldcxt = MemoryContextSwitchTo(state->request_cxt);
	state->after_backslash = false;
	state->conn = sidecar_open(state->opts.socket_path, state->opts.timeout_ms);
	sidecar_limit_body(state->conn, state->opts.max_response_size);
	sidecar_request(state->conn, request_target(state, pids));
	state->cstate = BeginCopyFrom(NULL, node->ss.ss_currentRelation, NULL,
								  NULL, false, copy_source, state->columns,
								  list_make2(makeDefElem("format", (Node *) makeString("text"), -1),
											 makeDefElem("encoding", (Node *) makeString("UTF8"), -1)));
	MemoryContextSwitchTo(oldcxt);
}

static TupleTableSlot *
meminfoIterateForeignScan(ForeignScanState *node)
{
	MeminfoScanState *state = (MeminfoScanState *) node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	ErrorContextCallback errcallback;
	bool		found;

	ExecClearTuple(slot);
	if (!state->started)
		start_request(node, state);
	if (state->exhausted)
		return slot;

	/* COPY's own callback names the table, line and column of a bad row. */
	errcallback.callback = CopyFromErrorCallback;
	errcallback.arg = (void *) state->cstate;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	copy_source_scan = state;
	found = NextCopyFrom(state->cstate, node->ss.ps.ps_ExprContext,
						 slot->tts_values, slot->tts_isnull);

	error_context_stack = errcallback.previous;

	if (found)
		ExecStoreVirtualTuple(slot);
	else
		state->exhausted = true;
	return slot;
}

/* Drop the connection and COPY state of the current request, if any. */
static void
end_request(MeminfoScanState *state)
{
	if (state->cstate)
		EndCopyFrom(state->cstate);
	state->cstate = NULL;
	state->conn = NULL;
	MemoryContextReset(state->request_cxt);
}

static void
meminfoReScanForeignScan(ForeignScanState *node)
{
	MeminfoScanState *state = (MeminfoScanState *) node->fdw_state;

	end_request(state);
	state->started = false;
	state->exhausted = false;
}

static void
meminfoEndForeignScan(ForeignScanState *node)
{
	MeminfoScanState *state = (MeminfoScanState *) node->fdw_state;

	/* NULL under EXPLAIN without ANALYZE. */
	if (state == NULL)
		return;
	end_request(state);
	MemoryContextDelete(state->request_cxt);
}

/* EXPLAIN VERBOSE shows what is asked of the sidecar. */
static void
meminfoExplainForeignScan(ForeignScanState *node, ExplainState *es)
{
	ForeignScan *fsplan = (ForeignScan *) node->ss.ps.plan;
	MeminfoOptions opts;
	StringInfoData columns;
	ListCell   *lc;

	if (!es->verbose)
		return;

	meminfo_get_options(RelationGetRelid(node->ss.ss_currentRelation), &opts);
	initStringInfo(&columns);
	foreach(lc, (List *) linitial(fsplan->fdw_private))
		appendStringInfo(&columns, "%s%s", columns.len > 0 ? ", " : "", strVal(lfirst(lc)));

	ExplainPropertyText("Sidecar Request", meminfo_kind_path(opts.kind), es);
	ExplainPropertyText("Sidecar Columns", columns.data, es);
	if (fsplan->fdw_exprs != NIL)
	{
		List	   *context = set_deparse_context_plan(es->deparse_cxt,
													   node->ss.ps.plan, NIL);

		ExplainPropertyText("Sidecar Pid Filter",
							deparse_expression(linitial(fsplan->fdw_exprs),
											   context, false, false),
							es);
	}
}

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
