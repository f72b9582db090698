/** The secret that signs requests: random, written next to the socket, readable by its owner only. */
import { randomBytes } from "node:crypto";
import { open, rm } from "node:fs/promises";

/** Where the secret of the sidecar listening on socketPath lives. */
export function secretPathFor(socketPath: string): string {
  return `${socketPath}.secret`;
}

/**
 * Writes a fresh secret (64 hex digits) with mode 0600, replacing the one of an earlier run. The file is
 * created exclusively, so a file planted in its place by someone else is never written through.
 */
export async function writeSecret(path: string): Promise<string> {
  const secret = randomBytes(32).toString("hex");
  await rm(path, { force: true });
  const file = await open(path, "wx", 0o600);
  try {
    await file.writeFile(`${secret}\n`);
  } finally {
    await file.close();
  }
  return secret;
}

export async function removeSecret(path: string): Promise<void> {
  await rm(path, { force: true });
}
