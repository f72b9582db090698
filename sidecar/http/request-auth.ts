/**
 * Every request must be signed (docs/protocol.md, "Signature") and come from this sidecar's own
 * cluster; both are checked before anything else runs.
 */
import type { FastifyInstance } from "fastify";
import type { Cluster } from "../cluster/cluster.js";
import { WrongClusterError } from "../errors.js";
import type { SignatureVerifier } from "../security/request-signature.js";

export function installRequestAuth(
  app: FastifyInstance,
  verifier: SignatureVerifier,
  cluster: Cluster,
): void {
  // The cluster as last asked; asked again when a request names another (the cluster may have restarted).
  let known: string | null = null;
  app.addHook("onRequest", async (request) => {
    const claimed = verifier.verify(request.method, request.url, request.headers);
    if (claimed === known) return;
    known = (await cluster.identity()).name;
    if (claimed === known) return;
    throw new WrongClusterError("this sidecar serves another PostgreSQL cluster", {
      detail: `The request comes from cluster ${claimed} (system identifier/postmaster pid); this sidecar serves ${known}.`,
      hint:
        "Point the foreign server's socket option at the sidecar of this cluster (by default " +
        "<first unix_socket_directories entry>/.s.PGMEMINFO.<port>/sidecar.sock), or start one for it.",
    });
  });
}
