/** The part of a pg Pool or Client the library needs, so both (and tests' own) can be passed. */
export interface Queryable {
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}
