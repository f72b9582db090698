/*-------------------------------------------------------------------------
 *
 * time_filter.c
 *		  Pushing "sampled_at > X", ">=", "<", "<=" and "=" down to the sidecar
 *		  for the history source, so that only samples of that time are sent.
 *
 * Like the pid clause (pid_filter.c), every clause also stays in the plan's
 * qual, so Postgres rechecks each row locally.  The value side may be any
 * timestamptz expression without Vars or volatile functions (a constant, a
 * parameter, now() - interval '5 minutes'): it is evaluated when the scan
 * starts, and again on rescan.  The clauses are folded into at most one
 * lower and one upper bound, sent as whole microseconds since the Unix epoch
 * (docs/protocol.md, "history").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "executor/executor.h"
#include "utils/timestamp.h"

#include "pg_meminfo.h"

/*
 * The built-in timestamptz comparison operators (pg_operator.dat); only
 * these are pushed, never an operator of the same name from another schema.
 */
#define TIMESTAMPTZ_EQ_OPERATOR 1320
#define TIMESTAMPTZ_LT_OPERATOR 1322
#define TIMESTAMPTZ_LE_OPERATOR 1323
#define TIMESTAMPTZ_GT_OPERATOR 1324
#define TIMESTAMPTZ_GE_OPERATOR 1325

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define UNIX_TO_POSTGRES_EPOCH_USECS \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* The comparison "sampled_at <op> value" an operator makes, or -1. */
static int
time_op_of(Oid opno)
{
	switch (opno)
	{
		case TIMESTAMPTZ_LT_OPERATOR:
			return MEMINFO_TIME_LT;
		case TIMESTAMPTZ_LE_OPERATOR:
			return MEMINFO_TIME_LE;
		case TIMESTAMPTZ_EQ_OPERATOR:
			return MEMINFO_TIME_EQ;
		case TIMESTAMPTZ_GE_OPERATOR:
			return MEMINFO_TIME_GE;
		case TIMESTAMPTZ_GT_OPERATOR:
			return MEMINFO_TIME_GT;
	}
	return -1;
}

/* The same comparison with its sides swapped: "value < sampled_at" is ">". */
static int
commuted(int op)
{
	switch (op)
	{
		case MEMINFO_TIME_LT:
			return MEMINFO_TIME_GT;
		case MEMINFO_TIME_LE:
			return MEMINFO_TIME_GE;
		case MEMINFO_TIME_GE:
			return MEMINFO_TIME_LE;
		case MEMINFO_TIME_GT:
			return MEMINFO_TIME_LT;
	}
	return op;
}

/*
 * The relation's restriction clauses that compare column attno (a
 * timestamptz) with a scan constant, and in *ops an int list of the
 * comparison each makes, read as "column <op> value".
 */
List *
meminfo_find_time_clauses(RelOptInfo *baserel, AttrNumber attno, List **ops)
{
	List	   *clauses = NIL;
	ListCell   *lc;

	*ops = NIL;
	if (attno == InvalidAttrNumber)
		return NIL;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		OpExpr	   *op = (OpExpr *) rinfo->clause;
		int			cmp;

		if (!IsA(op, OpExpr) || list_length(op->args) != 2)
			continue;
		cmp = time_op_of(op->opno);
		if (cmp < 0)
			continue;
		if (meminfo_is_column_var(linitial(op->args), baserel, attno) &&
			meminfo_is_scan_constant(lsecond(op->args)))
			*ops = lappend_int(*ops, cmp);
		else if (meminfo_is_column_var(lsecond(op->args), baserel, attno) &&
				 meminfo_is_scan_constant(linitial(op->args)))
			*ops = lappend_int(*ops, commuted(cmp));
		else
			continue;
		clauses = lappend(clauses, op);
	}
	return clauses;
}

/*
 * Prepare the value side of each pushed clause (as fixed up by setrefs)
 * for evaluation in ps; a list of ExprStates in the order of the clauses.
 */
List *
meminfo_init_time_exprs(List *clauses, PlanState *ps)
{
	List	   *states = NIL;
	ListCell   *lc;

	foreach(lc, clauses)
	{
		OpExpr	   *op = lfirst_node(OpExpr, lc);
		Node	   *value = IsA(linitial(op->args), Var) ?
			lsecond(op->args) : linitial(op->args);

		states = lappend(states, ExecInitExpr((Expr *) value, ps));
	}
	return states;
}

/* Tighten the lower bound to "> us" (strict) or ">= us". */
static void
add_lower(MeminfoTimeBounds *b, int64 us, bool strict)
{
	if (!b->has_lower || us > b->lower_us || (us == b->lower_us && strict))
	{
		b->has_lower = true;
		b->lower_us = us;
		b->lower_strict = strict;
	}
}

/* Tighten the upper bound to "< us" (strict) or "<= us". */
static void
add_upper(MeminfoTimeBounds *b, int64 us, bool strict)
{
	if (!b->has_upper || us < b->upper_us || (us == b->upper_us && strict))
	{
		b->has_upper = true;
		b->upper_us = us;
		b->upper_strict = strict;
	}
}

/*
 * Evaluate the values of the pushed clauses and fold them into *bounds.
 * bounds->no_rows is set when no sample can match: a NULL value, a lower
 * bound at +infinity, an upper one at -infinity, or bounds that cross.  A
 * lower bound at -infinity or an upper one at +infinity bounds nothing.
 */
void
meminfo_eval_time_bounds(List *states, List *ops, ExprContext *econtext,
						 MeminfoTimeBounds *bounds)
{
	ListCell   *ls;
	ListCell   *lo;

	memset(bounds, 0, sizeof(*bounds));
	forboth(ls, states, lo, ops)
	{
		bool		isnull;
		Datum		value = ExecEvalExpr((ExprState *) lfirst(ls), econtext, &isnull);
		int			op = lfirst_int(lo);
		bool		lower = op == MEMINFO_TIME_GT || op == MEMINFO_TIME_GE || op == MEMINFO_TIME_EQ;
		bool		upper = op == MEMINFO_TIME_LT || op == MEMINFO_TIME_LE || op == MEMINFO_TIME_EQ;
		TimestampTz ts;
		int64		us;

		if (isnull)
		{
			bounds->no_rows = true;
			return;
		}
		ts = DatumGetTimestampTz(value);
		/* Past the end of time (or past int64 from the Unix epoch): no sample is later. */
		if (TIMESTAMP_IS_NOEND(ts) ||
			pg_add_s64_overflow(ts, UNIX_TO_POSTGRES_EPOCH_USECS, &us))
		{
			if (lower)
			{
				bounds->no_rows = true;
				return;
			}
			continue;
		}
		if (TIMESTAMP_IS_NOBEGIN(ts))
		{
			if (upper)
			{
				bounds->no_rows = true;
				return;
			}
			continue;
		}
		if (lower)
			add_lower(bounds, us, op == MEMINFO_TIME_GT);
		if (upper)
			add_upper(bounds, us, op == MEMINFO_TIME_LT);
	}
	if (bounds->has_lower && bounds->has_upper &&
		(bounds->lower_us > bounds->upper_us ||
		 (bounds->lower_us == bounds->upper_us &&
		  (bounds->lower_strict || bounds->upper_strict))))
		bounds->no_rows = true;
}

/* Append the bounds as query parameters: after or from, before or until. */
void
meminfo_append_time_params(StringInfo target, const MeminfoTimeBounds *bounds)
{
	if (bounds->has_lower)
		appendStringInfo(target, "&%s=" INT64_FORMAT,
						 bounds->lower_strict ? "after" : "from", bounds->lower_us);
	if (bounds->has_upper)
		appendStringInfo(target, "&%s=" INT64_FORMAT,
						 bounds->upper_strict ? "before" : "until", bounds->upper_us);
}
