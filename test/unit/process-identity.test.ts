import { describe, expect, it } from "vitest";
import { identityFromStatus } from "../../sidecar/security/process-identity.js";

describe("identityFromStatus", () => {
  it("reads the real uid and gid and the effective capabilities", () => {
    const status =
      "Name:\tpostgres\nUid:\t101\t101\t101\t101\nGid:\t104\t104\t104\t104\nCapEff:\t0000000000080000\n";
    expect(identityFromStatus(status)).toEqual({ uid: 101, gid: 104, capEff: "0000000000080000" });
  });

  it("says nothing when the lines are missing", () => {
    expect(identityFromStatus("Name:\tx\n")).toBeNull();
  });
});
