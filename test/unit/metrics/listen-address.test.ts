import { describe, expect, it } from "vitest";
import { formatListenAddress, parseListenAddress } from "../../../sidecar/metrics/listen-address.js";

describe("--metrics-listen", () => {
  it("takes HOST:PORT, [IPv6]:PORT, or a port alone for 127.0.0.1", () => {
    expect(parseListenAddress("9187")).toEqual({ host: "127.0.0.1", port: 9187 });
    expect(parseListenAddress("0.0.0.0:9187")).toEqual({ host: "0.0.0.0", port: 9187 });
    expect(parseListenAddress("10.1.2.3:1")).toEqual({ host: "10.1.2.3", port: 1 });
    expect(parseListenAddress("[::1]:65535")).toEqual({ host: "::1", port: 65535 });
    expect(parseListenAddress("[::]:9187")).toEqual({ host: "::", port: 9187 });
    expect(parseListenAddress("localhost:9187")).toEqual({ host: "localhost", port: 9187 });
    expect(parseListenAddress("db-01.example.com:9187")).toEqual({ host: "db-01.example.com", port: 9187 });
    expect(formatListenAddress({ host: "::1", port: 1 })).toBe("[::1]:1");
    expect(formatListenAddress({ host: "127.0.0.1", port: 2 })).toBe("127.0.0.1:2");
  });

  it.each([
    ["", /no port/],
    ["localhost", /no port/],
    [":9187", /not a host name/],
    ["127.0.0.1:", /port "" is not a number/],
    ["127.0.0.1:0", /port 0 is not from 1 to 65535/],
    ["0", /port 0 is not from 1 to 65535/],
    ["65536", /port 65536 is not from 1 to 65535/],
    ["127.0.0.1:99999", /not from 1 to 65535/],
    ["127.0.0.1:123456", /not a number/],
    ["127.0.0.1:-1", /not a number/],
    ["127.0.0.1:12ab", /not a number/],
    ["::1:9187", /IPv6 address in brackets/],
    ["[localhost]:9187", /not an IPv6 address/],
    ["[::1]9187", /not a host name|IPv6/],
    ["http://127.0.0.1:9187", /no scheme, path or spaces/],
    ["host name:9187", /no scheme, path or spaces/],
    ["-evil:9187", /not a host name/],
    ["a/b:9187", /no scheme, path or spaces/],
    ["a_b:9187", /not a host name/],
  ])("refuses %j", (text, message) => {
    expect(() => parseListenAddress(text)).toThrow(message);
  });
});
