import { describe, expect, it } from "vitest";
import { parseKeyValue, passwordIn, poolConfig } from "../../sidecar/cluster/conninfo.js";

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

describe("passwordIn", () => {
  it("finds a password in key=value strings and in URIs, and nothing else", () => {
    expect(passwordIn("host=/tmp password=x")).toBe(true);
    expect(passwordIn("host=/tmp password = 'it''s'")).toBe(true);
    expect(passwordIn("postgresql://u:secret@h/db")).toBe(true);
    expect(passwordIn("postgres://u@h/db?sslmode=disable&password=x")).toBe(true);
    expect(passwordIn("postgresql://u@h1,h2/db")).toBe(false);
    expect(passwordIn("host=/tmp user=password dbname=passwords")).toBe(false);
    expect(passwordIn("postgresql://u@h/db")).toBe(false);
    expect(passwordIn(undefined)).toBe(false);
    expect(passwordIn("")).toBe(false);
  });
});
