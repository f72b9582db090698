/**
 * The metrics listener: HTTP on its own TCP address (--metrics-listen), GET /metrics and nothing else.
 * A scrape sends text already made: a timer follows the sampler (a cheap look at its health a few
 * times per interval) and, when a round has ended, reads the sidecar's own USS, asks for growth, sets
 * the metrics and formats them once. No scrape reads /proc, asks the cluster or formats anything; the
 * gzip form is made on the first scrape that asks for it, once per text.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { gzip } from "node:zlib";
import { InternalError } from "../errors.js";
import type { Growth, SamplerHealth, SampleSource } from "../history/sample.js";
import { sidecarVersion } from "../version.js";
import { Exposition, isFresh } from "./exposition.js";
import { DEFAULT_MAX_LABEL_VALUES } from "./labels.js";
import { formatListenAddress, type ListenAddress } from "./listen-address.js";
import { ownUss } from "./own-memory.js";

/** Default of --metrics-growth-window: memory_growth's default window, 10 minutes. */
export const DEFAULT_GROWTH_WINDOW_MS = 600_000;

export interface MetricsOptions {
  address: ListenAddress;
  source: SampleSource;
  /** Values kept per label and round (default DEFAULT_MAX_LABEL_VALUES). */
  maxLabelValues?: number | undefined;
  /** Per-pid series for this many processes (default 0: none). */
  topPids?: number | undefined;
  /** The window of pg_meminfo_growing_processes and the growth rates, ms. */
  growthWindowMs?: number | undefined;
  /** The sidecar's own USS; /proc/self/smaps_rollup unless tests give another. */
  readOwnUss?: () => number | null;
  /** How often the sampler's health is looked at, ms (default: a quarter interval, 50 ms to 1 s). */
  pollMs?: number | undefined;
}

const gzipAsync: (bytes: Buffer) => Promise<Buffer> = promisify(gzip);

/** One formatting of the metrics, and its gzip form once a scraper asked for it. */
interface Rendered {
  text: Promise<Buffer>;
  gzip?: Promise<Buffer>;
}

/** Connections at once: scrapers are few; a flood of connections gets refused, not served slowly. */
const MAX_CONNECTIONS = 64;

export class MetricsListener {
  private readonly exposition: Exposition;
  private readonly timer: NodeJS.Timeout;
  private ended = -1;
  private roundStart: number | null = null;
  private growth: readonly Growth[] = [];
  private uss: number | null = null;
  private shownFresh: boolean | undefined;
  private rendered: Rendered | undefined;

  private constructor(
    private readonly server: Server,
    private readonly options: MetricsOptions,
    pollMs: number,
  ) {
    this.exposition = new Exposition({
      maxLabelValues: options.maxLabelValues ?? DEFAULT_MAX_LABEL_VALUES,
      topPids: options.topPids ?? 0,
      version: sidecarVersion(),
    });
    this.refresh();
    this.timer = setInterval(() => this.refresh(), pollMs);
    this.timer.unref();
    server.on("request", (req, res) => this.serve(req, res));
  }

  /** Listens on the options' address; rejects with a clear error when it cannot. */
  static async start(options: MetricsOptions): Promise<MetricsListener> {
    const server = createServer({
      // A scrape is one short request: slow or huge requests are cut off.
      headersTimeout: 5_000,
      requestTimeout: 10_000,
      maxHeaderSize: 8 * 1024,
      // How often the timeouts above are enforced (Node's default is every 30 s).
      connectionsCheckingInterval: 1_000,
    });
    server.maxConnections = MAX_CONNECTIONS;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: options.address.host, port: options.address.port, exclusive: true }, () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw listenError(options.address, err);
    });
    const intervalMs = options.source.health().intervalMs;
    const pollMs = options.pollMs ?? Math.min(1_000, Math.max(50, Math.floor(intervalMs / 4)));
    return new MetricsListener(server, options, pollMs);
  }

  /** Where it listens (the port the kernel gave when 0 was asked for). */
  get address(): ListenAddress {
    const info = this.server.address() as AddressInfo;
    return { host: info.address, port: info.port };
  }

  get url(): string {
    return `http://${formatListenAddress(this.address)}/metrics`;
  }

  /**
   * Looks at the sampler and sets the figures when a round has ended since the last look (or when the
   * latest round has just become too old to show). Runs on the timer; tests call it directly.
   */
  refresh(now = Date.now()): void {
    const health = this.options.source.health();
    const ended = health.rounds + health.failures.database + health.failures.proc + health.failures.busy;
    const fresh = isFresh(health, now);
    if (ended === this.ended && fresh === this.shownFresh) return;
    if (ended !== this.ended) {
      this.ended = ended;
      // Once per round, off the scrape path.
      this.uss = (this.options.readOwnUss ?? ownUss)();
    }
    this.followRound(health);
    this.exposition.update({ health, growth: this.growth, ownUss: this.uss, now });
    this.rendered = { text: this.exposition.text().then((text) => Buffer.from(text, "utf8")) };
    this.shownFresh = fresh;
  }

  private followRound(health: SamplerHealth): void {
    const start = health.latest?.startedAt ?? null;
    if (start === this.roundStart) return;
    this.roundStart = start;
    this.growth =
      start === null
        ? []
        : this.options.source.growth(this.options.growthWindowMs ?? DEFAULT_GROWTH_WINDOW_MS);
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "").split("?", 1)[0];
    if (path !== "/metrics") {
      reply(res, 404, "not found: this listener serves GET /metrics only\n");
      return;
    }
    if (req.method !== "GET") {
      reply(res, 405, "method not allowed: GET /metrics\n", { Allow: "GET" });
      return;
    }
    const rendered = this.rendered as Rendered;
    const gzipped = /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? ""));
    if (gzipped) rendered.gzip ??= rendered.text.then((text) => gzipAsync(text));
    const body = gzipped ? (rendered.gzip as Promise<Buffer>) : rendered.text;
    body.then(
      (bytes) =>
        reply(res, 200, bytes, {
          "Content-Type": this.exposition.contentType,
          Vary: "Accept-Encoding",
          ...(gzipped ? { "Content-Encoding": "gzip" } : {}),
        }),
      (err: unknown) => reply(res, 500, `could not format the metrics: ${(err as Error).message}\n`),
    );
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

function reply(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function listenError(address: ListenAddress, err: NodeJS.ErrnoException): InternalError {
  const where = formatListenAddress(address);
  const hints: Record<string, string> = {
    EADDRINUSE: "Another process listens on that port: pick a free one (one port per sidecar).",
    EACCES: "Ports below 1024 need privileges the sidecar must not have: pick a port from 1024 up.",
    EADDRNOTAVAIL: "That address is not one of this host's: use 127.0.0.1 or an address of the host.",
    ENOTFOUND: "The host name does not resolve: use an address.",
    EAI_AGAIN: "The host name does not resolve: use an address.",
  };
  return new InternalError(`could not listen on ${where} for --metrics-listen`, {
    detail: `${err.message}.`,
    hint: hints[err.code ?? ""] ?? "Check the address and port of --metrics-listen.",
    cause: err,
  });
}
