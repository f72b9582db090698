import { describe, expect, it } from "vitest";
import { firstSocketDirectory, socketPathFor } from "../../sidecar/cluster/socket-path.js";

describe("socket path helpers", () => {
  it("takes the first unix_socket_directories entry, trimmed or unquoted", () => {
    expect(firstSocketDirectory(" /var/run/postgresql , /tmp")).toBe("/var/run/postgresql");
    expect(firstSocketDirectory('"/odd, dir", /tmp')).toBe("/odd, dir");
    expect(firstSocketDirectory('"a""b"')).toBe('a"b');
    expect(firstSocketDirectory("")).toBeNull();
  });

  it("resolves a relative directory against the data directory", () => {
    expect(socketPathFor("sock", 5432, "/srv/pg")).toBe("/srv/pg/sock/.s.PGMEMINFO.5432/sidecar.sock");
    expect(socketPathFor("/tmp", "5499", "/srv/pg")).toBe("/tmp/.s.PGMEMINFO.5499/sidecar.sock");
  });
});
