import { Command } from "commander";
import { describe, expect, it } from "vitest";
import {
  addMetricsOptions,
  type MetricsFlags,
  metricsSettings,
} from "../../../sidecar/metrics/metrics-flags.js";

/** The flags as the sidecar's command line parses them; a bad value throws commander's message. */
function parse(args: string[]): MetricsFlags {
  const command = addMetricsOptions(new Command("sidecar"))
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  command.parse(args, { from: "user" });
  return command.opts<MetricsFlags>();
}

describe("the --metrics-* options", () => {
  it("are off by default", () => {
    expect(metricsSettings(parse([]), 10_000)).toBeUndefined();
  });

  it("make the listener's settings", () => {
    expect(
      metricsSettings(
        parse([
          "--metrics-listen",
          "9718",
          "--metrics-max-label-values",
          "7",
          "--metrics-top-pids",
          "3",
          "--metrics-growth-window",
          "120",
        ]),
        10_000,
      ),
    ).toEqual({
      address: { host: "127.0.0.1", port: 9718 },
      maxLabelValues: 7,
      topPids: 3,
      growthWindowMs: 120_000,
    });
    expect(metricsSettings(parse(["--metrics-listen", "[::1]:9718"]), 1_000)).toEqual({
      address: { host: "::1", port: 9718 },
      maxLabelValues: undefined,
      topPids: undefined,
      growthWindowMs: undefined,
    });
  });

  it.each([
    [["--metrics-listen", "0"], /port 0 is not from 1 to 65535/],
    [["--metrics-listen", "::1:80"], /IPv6 address in brackets/],
    [["--metrics-listen", "9718", "--metrics-max-label-values", "0"], /an integer from 1 to 10000/],
    [["--metrics-listen", "9718", "--metrics-max-label-values", "1e3"], /an integer from 1 to 10000/],
    [["--metrics-listen", "9718", "--metrics-top-pids", "1001"], /an integer from 0 to 1000/],
    [["--metrics-listen", "9718", "--metrics-top-pids", "-1"], /an integer from 0 to 1000|unknown option/],
    [["--metrics-listen", "9718", "--metrics-growth-window", "5"], /an integer from 10 to 86400/],
  ])("refuse %j", (args, message) => {
    expect(() => parse(args)).toThrow(message);
  });

  it("say so when given without --metrics-listen, or without sampling", () => {
    expect(() =>
      metricsSettings(parse(["--metrics-top-pids", "5", "--metrics-growth-window", "60"]), 10_000),
    ).toThrow("--metrics-top-pids, --metrics-growth-window without --metrics-listen does nothing");
    expect(() => metricsSettings(parse(["--metrics-listen", "9718"]), 0)).toThrow(
      expect.objectContaining({
        message: "--metrics-listen needs sampling: the metrics are the sampler's figures",
        hint: "Give --sample-interval a number of seconds above 0 (the default is 10).",
      }),
    );
  });
});
