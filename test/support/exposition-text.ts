/**
 * The Prometheus text format read back, for assertions: every sample with its labels unescaped, and
 * the HELP and TYPE lines. Strict: a line it does not understand throws.
 */
export interface ExposedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposed {
  samples: ExposedSample[];
  types: Map<string, string>;
  helps: Map<string, string>;
}

export function parseExposition(text: string): Exposed {
  const exposed: Exposed = { samples: [], types: new Map(), helps: new Map() };
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === "HELP" ? exposed.helps : exposed.types).set(meta[2] as string, meta[3] as string);
      continue;
    }
    exposed.samples.push(parseSample(line));
  }
  return exposed;
}

function parseSample(line: string): ExposedSample {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  if (name === undefined) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
  let at = name.length;
  const labels: Record<string, string> = {};
  if (line[at] === "{") {
    at++;
    while (line[at] !== "}") {
      const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(line.slice(at));
      if (label === null) throw new Error(`bad label at ${at}: ${JSON.stringify(line)}`);
      at += label[0].length;
      let value = "";
      for (;;) {
        const c = line[at++];
        if (c === undefined) throw new Error(`unterminated label value: ${JSON.stringify(line)}`);
        if (c === '"') break;
        if (c === "\\") {
          const e = line[at++];
          if (e === "n") value += "\n";
          else if (e === "\\" || e === '"') value += e;
          else throw new Error(`bad escape \\${e}: ${JSON.stringify(line)}`);
        } else value += c;
      }
      labels[label[1] as string] = value;
      if (line[at] === ",") at++;
    }
    at++;
  }
  if (line[at] !== " ") throw new Error(`no value: ${JSON.stringify(line)}`);
  const value = Number(line.slice(at + 1));
  if (Number.isNaN(value) && line.slice(at + 1) !== "NaN")
    throw new Error(`bad value: ${JSON.stringify(line)}`);
  return { name, labels, value };
}

/** The samples of one metric, whose labels include `match`. */
export function samplesOf(
  exposed: Exposed,
  name: string,
  match: Record<string, string> = {},
): ExposedSample[] {
  return exposed.samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}

/** The sum of the values of one metric's samples whose labels include `match`. */
export function sumOf(exposed: Exposed, name: string, match: Record<string, string> = {}): number {
  return samplesOf(exposed, name, match).reduce((sum, s) => sum + s.value, 0);
}
