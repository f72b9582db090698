/** The query string and header schemas of the row routes (docs/protocol.md, "Request"). */

// Plain JSON Schema: fastify validates it, json-schema-to-ts types it, and nothing heavy loads at run time.
export const RowsQuery = {
  type: "object",
  properties: {
    columns: { type: "string" },
    pid: { type: "string" },
  },
  required: ["columns"],
  additionalProperties: false,
} as const;

// The role header is checked by parseRole, so that its absence is MISSING_ROLE and not BAD_REQUEST.
export const RowsHeaders = {
  type: "object",
  properties: {
    "x-pg-meminfo-role": { type: "string" },
    "x-pg-meminfo-backend-pid": { type: "string" },
  },
} as const;

/** The history source's query string: the rows' parameters and the time bounds (µs since the epoch). */
export const HistoryQuery = {
  type: "object",
  properties: {
    columns: { type: "string" },
    pid: { type: "string" },
    after: { type: "string" },
    from: { type: "string" },
    before: { type: "string" },
    until: { type: "string" },
  },
  required: ["columns"],
  additionalProperties: false,
} as const;
