/*-------------------------------------------------------------------------
 *
 * pid_filter.c
 *		  Pushing "pid = X", "pid = ANY(...)" and "pid IN (...)" down to the
 *		  sidecar, so that only those processes are read.
 *
 * Like postgres_fdw's classifyConditions, the planner looks at the table's
 * restriction clauses for one it can send; unlike postgres_fdw, every clause
 * stays in the plan's qual too, so Postgres rechecks each row locally and a
 * wrong answer from the far side can never widen the result.
 *
 * The value side may be any expression without Vars or volatile functions
 * (a constant, a parameter, pg_backend_pid()): it is evaluated when the scan
 * starts, and again on rescan.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "utils/array.h"
#include "utils/lsyscache.h"

#include "pg_meminfo.h"

/*
 * Is node a plain reference to column attno of this relation?  (Also for
 * the time clauses, time_filter.c.)
 */
bool
meminfo_is_column_var(Node *node, RelOptInfo *baserel, AttrNumber attno)
{
	Var		   *var = (Var *) node;

	return node != NULL && IsA(node, Var) &&
		var->varno == baserel->relid &&
		var->varlevelsup == 0 &&
		var->varattno == attno;
}

/* Can this expression be computed once, before the scan reads any row? */
bool
meminfo_is_scan_constant(Node *node)
{
	return !contain_var_clause(node) &&
		!contain_volatile_functions(node) &&
		!contain_subplans(node);
}

/*
 * Return a clause of the form "pid = expr" or "pid = ANY(expr)" from the
 * relation's restrictions, or NULL when there is none to push.
 */
Expr *
meminfo_find_pid_clause(PlannerInfo *root, RelOptInfo *baserel,
						AttrNumber pid_attno)
{
	ListCell   *lc;

	if (pid_attno == InvalidAttrNumber)
		return NULL;

	foreach(lc, baserel->baserestrictinfo)
	{
		RestrictInfo *rinfo = lfirst_node(RestrictInfo, lc);
		Node	   *clause = (Node *) rinfo->clause;

		if (IsA(clause, OpExpr))
		{
			OpExpr	   *op = (OpExpr *) clause;
			Node	   *left;
			Node	   *right;

			if (op->opno != Int4EqualOperator || list_length(op->args) != 2)
				continue;
			left = linitial(op->args);
			right = lsecond(op->args);
			if ((meminfo_is_column_var(left, baserel, pid_attno) &&
				 meminfo_is_scan_constant(right)) ||
				(meminfo_is_column_var(right, baserel, pid_attno) &&
				 meminfo_is_scan_constant(left)))
				return (Expr *) clause;
		}
		else if (IsA(clause, ScalarArrayOpExpr))
		{
			ScalarArrayOpExpr *saop = (ScalarArrayOpExpr *) clause;

			if (saop->opno == Int4EqualOperator && saop->useOr &&
				list_length(saop->args) == 2 &&
				meminfo_is_column_var(linitial(saop->args), baserel, pid_attno) &&
				meminfo_is_scan_constant(lsecond(saop->args)))
				return (Expr *) clause;
		}
	}
	return NULL;
}

/*
 * Prepare the value side of a pushed clause (as fixed up by setrefs) for
 * evaluation in ps, and set *is_array when it yields an int4[] rather than
 * one int4.
 */
ExprState *
meminfo_init_pid_expr(Expr *clause, PlanState *ps, bool *is_array)
{
	Node	   *value;

	if (IsA(clause, ScalarArrayOpExpr))
	{
		*is_array = true;
		value = lsecond(((ScalarArrayOpExpr *) clause)->args);
	}
	else
	{
		OpExpr	   *op = (OpExpr *) clause;

		*is_array = false;
		value = IsA(linitial(op->args), Var) ? lsecond(op->args) : linitial(op->args);
	}
	return ExecInitExpr((Expr *) value, ps);
}

/* list_sort comparator: orders int list cells ascending. */
static int
compare_pids(const ListCell *a, const ListCell *b)
{
	int			x = lfirst_int(a);
	int			y = lfirst_int(b);

	return (x > y) - (x < y);
}

/*
 * Evaluate the pids to ask for.  Returns NIL with *no_rows false when the
 * sidecar should read every process (the list is too long to send, the
 * filter is applied locally), and NIL with *no_rows true when no row can
 * match (NULL or an empty array).
 */
List *
meminfo_eval_pids(ExprState *state, bool is_array, ExprContext *econtext,
				  bool *no_rows)
{
	bool		isnull;
	Datum		value = ExecEvalExpr(state, econtext, &isnull);
	List	   *pids = NIL;

	*no_rows = false;
	if (isnull)
	{
		*no_rows = true;
		return NIL;
	}
	if (!is_array)
		pids = list_make1_int(DatumGetInt32(value));
	else
	{
		ArrayType  *array = DatumGetArrayTypeP(value);
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;

		deconstruct_array(array, INT4OID, sizeof(int32), true, TYPALIGN_INT,
						  &elems, &nulls, &nelems);
		for (int i = 0; i < nelems; i++)
			if (!nulls[i])
				pids = lappend_int(pids, DatumGetInt32(elems[i]));
	}
	/* No process has a pid below 1: such a pid matches no row. */
	{
		List	   *positive = NIL;
		ListCell   *lc;

		foreach(lc, pids)
			if (lfirst_int(lc) > 0)
				positive = lappend_int(positive, lfirst_int(lc));
		pids = positive;
	}

	if (pids == NIL)
	{
		*no_rows = true;
		return NIL;
	}
	list_sort(pids, compare_pids);
	{
		List	   *unique = NIL;
		ListCell   *lc;

		foreach(lc, pids)
			if (unique == NIL || llast_int(unique) != lfirst_int(lc))
				unique = lappend_int(unique, lfirst_int(lc));
		pids = unique;
	}
	if (list_length(pids) > MEMINFO_MAX_PUSHED_PIDS)
		return NIL;
	return pids;
}
