import { describe, expect, it } from "vitest";
import { parseKeyValue, poolConfig } from "../../sidecar/cluster/conninfo.js";

describe("poolConfig", () => {
  it("maps libpq keywords to pg settings", () => {
    expect(poolConfig("host=/tmp/s port=5499 user=postgres dbname=postgres")).toEqual({
      host: "/tmp/s",
      port: 5499,
      user: "postgres",
      database: "postgres",
    });
  });

  it("reads quoted values with escapes and spaces around =", () => {
    expect(parseKeyValue("dbname = 'my db' password='it\\'s'")).toEqual(
      new Map([
        ["dbname", "my db"],
        ["password", "it's"],
      ]),
    );
  });

  it("passes URIs through and leaves an absent conninfo to the PG* variables", () => {
    expect(poolConfig("postgresql://u@%2Ftmp:5/db")).toEqual({
      connectionString: "postgresql://u@%2Ftmp:5/db",
    });
    expect(poolConfig(undefined)).toEqual({});
  });

  it("refuses malformed strings and unknown keywords", () => {
    expect(() => poolConfig("host")).toThrow('missing "=" after "host"');
    expect(() => poolConfig("dbname='x")).toThrow("unterminated quoted string");
    expect(() => poolConfig("sslmode=require")).toThrow('unsupported connection option "sslmode"');
  });
});
