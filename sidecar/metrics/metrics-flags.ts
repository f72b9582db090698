/** The sidecar's --metrics-* options: their parsing, their help, and the listener settings they make. */
import { type Command, InvalidArgumentError } from "commander";
import { DEFAULT_MAX_LABEL_VALUES, MAX_LABEL_LENGTH } from "./labels.js";
import { DEFAULT_METRICS_HOST, type ListenAddress, parseListenAddress } from "./listen-address.js";
import { DEFAULT_GROWTH_WINDOW_MS, type MetricsOptions } from "./metrics-listener.js";

export interface MetricsFlags {
  metricsListen?: ListenAddress;
  metricsMaxLabelValues?: number;
  metricsTopPids?: number;
  metricsGrowthWindow?: number;
}

/** What the listener is started with, but the sample source. */
export type MetricsSettings = Omit<MetricsOptions, "source" | "readOwnUss" | "pollMs">;

export const METRICS_HELP = `
Prometheus metrics (--metrics-listen): GET /metrics on a TCP port of its own, in the Prometheus text
format, from the sampler's latest round (so sampling must be on); every other path or method is refused.
A port alone listens on ${DEFAULT_METRICS_HOST}. The metrics are public to whoever reaches the port: database,
user and application names and memory figures, never query text. Label values past
--metrics-max-label-values per label and round are summed as "other", values are cut at ${MAX_LABEL_LENGTH}
characters; --metrics-top-pids adds a series per process (high cardinality). When the latest good
round is older than three sample intervals, the memory series are left out and the health metrics say
why. One sidecar per cluster, one port each.`;

export function addMetricsOptions(command: Command): Command {
  return command
    .option(
      "--metrics-listen <[host:]port>",
      `serve Prometheus metrics on GET /metrics at this address (default: off; a port alone: ${DEFAULT_METRICS_HOST})`,
      listenAddress,
    )
    .option(
      "--metrics-max-label-values <n>",
      `values kept per label and round, the rest summed as "other" (default: ${DEFAULT_MAX_LABEL_VALUES})`,
      integerFrom(1, 10_000),
    )
    .option(
      "--metrics-top-pids <n>",
      "also a series per process for the n processes with the most USS, with pid and backend_start labels (default: 0, none)",
      integerFrom(0, 1_000),
    )
    .option(
      "--metrics-growth-window <seconds>",
      `window of the growth metrics (default: ${DEFAULT_GROWTH_WINDOW_MS / 1000}, as memory_growth's)`,
      integerFrom(10, 86_400),
    );
}

/**
 * The listener's settings, or undefined without --metrics-listen. Throws an Error with a hint when a
 * metrics option is given without it, or when sampling is off.
 */
export function metricsSettings(flags: MetricsFlags, sampleIntervalMs: number): MetricsSettings | undefined {
  const address = flags.metricsListen;
  if (address === undefined) {
    const stray = [
      flags.metricsMaxLabelValues === undefined ? null : "--metrics-max-label-values",
      flags.metricsTopPids === undefined ? null : "--metrics-top-pids",
      flags.metricsGrowthWindow === undefined ? null : "--metrics-growth-window",
    ].filter((name) => name !== null);
    if (stray.length > 0) {
      throw new MetricsFlagError(
        `${stray.join(", ")} without --metrics-listen does nothing`,
        "Add --metrics-listen [HOST:]PORT.",
      );
    }
    return undefined;
  }
  if (sampleIntervalMs <= 0) {
    throw new MetricsFlagError(
      "--metrics-listen needs sampling: the metrics are the sampler's figures",
      "Give --sample-interval a number of seconds above 0 (the default is 10).",
    );
  }
  return {
    address,
    maxLabelValues: flags.metricsMaxLabelValues,
    topPids: flags.metricsTopPids,
    growthWindowMs: flags.metricsGrowthWindow === undefined ? undefined : flags.metricsGrowthWindow * 1000,
  };
}

export class MetricsFlagError extends Error {
  constructor(
    message: string,
    readonly hint: string,
  ) {
    super(message);
  }
}

function listenAddress(value: string): ListenAddress {
  try {
    return parseListenAddress(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}

function integerFrom(min: number, max: number): (value: string) => number {
  return (value: string) => {
    if (!/^[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`an integer from ${min} to ${max}`);
    }
    return Number(value);
  };
}
