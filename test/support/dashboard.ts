/** The PromQL of a Grafana dashboard JSON: every `expr`, with Grafana's variables given values. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const DASHBOARD = fileURLToPath(new URL("../../dashboards/pg_meminfo.json", import.meta.url));

export interface PanelQuery {
  panel: string;
  expr: string;
}

/** Every `expr` in the dashboard, with the title of the panel it is in. */
export function dashboardQueries(path = DASHBOARD): PanelQuery[] {
  const found: PanelQuery[] = [];
  const walk = (node: unknown, panel: string) => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item, panel);
      return;
    }
    if (node === null || typeof node !== "object") return;
    const record = node as Record<string, unknown>;
    const title = typeof record.title === "string" && "targets" in record ? record.title : panel;
    if (typeof record.expr === "string") found.push({ panel: title, expr: record.expr });
    for (const value of Object.values(record)) walk(value, title);
  };
  walk(JSON.parse(readFileSync(path, "utf8")), "");
  return found;
}

/** Grafana's variables in an expression replaced: `values` for the dashboard's, sensible ones for Grafana's own. */
export function substitute(expr: string, values: Record<string, string>): string {
  const builtin: Record<string, string> = {
    __rate_interval: "10s",
    __interval: "1s",
    __range: "1m",
    ...values,
  };
  const out = expr.replace(/\$\{?(\w+)\}?/g, (whole, name: string) => {
    const value = builtin[name];
    if (value === undefined) throw new Error(`no value for ${whole} in ${expr}`);
    return value;
  });
  return out;
}
