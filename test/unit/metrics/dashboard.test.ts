import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Exposition } from "../../../sidecar/metrics/exposition.js";
import { DASHBOARD, dashboardQueries, substitute } from "../../support/dashboard.js";

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
};

/** Grafana's reference to the dashboard's data source variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's syntax, not a template literal
const DATASOURCE = "${datasource}";

describe("the Grafana dashboard", () => {
  it("asks for its data source and filters every query by the Sidecar variable", () => {
    const variables = dashboard.templating.list.map((v) => [v.name, v.type]);
    expect(variables).toEqual([
      ["datasource", "datasource"],
      ["instance", "query"],
    ]);
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThanOrEqual(20);
    for (const { panel, expr } of queries) expect(expr, panel).toContain('instance=~"$instance"');
    for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
      expect(panel.datasource?.uid, panel.title).toBe(DATASOURCE);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe(DATASOURCE);
    }
  });

  it("has unique panel ids and no two panels on the same cells", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const taken = new Map<string, string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x + w, panel.title).toBeLessThanOrEqual(24);
      for (let row = y; row < y + h; row++) {
        for (let col = x; col < x + w; col++) {
          const cell = `${row},${col}`;
          expect(taken.get(cell), `${panel.title} over ${taken.get(cell)}`).toBeUndefined();
          taken.set(cell, panel.title);
        }
      }
    }
  });

  it("names only metrics the sidecar serves", () => {
    const served = new Set(
      new Exposition({ maxLabelValues: 50, topPids: 1, version: "test" }).registry
        .getMetricsAsArray()
        .map((m) => m.name),
    );
    const named = new Set(
      dashboardQueries().flatMap(({ expr }) =>
        [...substitute(expr, { instance: ".+" }).matchAll(/\bpg_meminfo_[a-z_]+/g)].map((m) => m[0]),
      ),
    );
    expect(named.size).toBeGreaterThan(10);
    for (const name of named) expect(served.has(name), name).toBe(true);
  });
});
