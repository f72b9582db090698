/** Every request must be signed (docs/protocol.md, "Signature"); checked before anything else runs. */
import type { FastifyInstance } from "fastify";
import type { SignatureVerifier } from "../security/request-signature.js";

export function installRequestAuth(app: FastifyInstance, verifier: SignatureVerifier): void {
  app.addHook("onRequest", async (request) => {
    verifier.verify(request.method, request.url, request.headers);
  });
}
