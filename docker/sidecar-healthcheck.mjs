// Healthcheck of the sidecar image: the socket answers HTTP. An unsigned request must get 401, which
// only a listening sidecar sends; anything else (no socket, no answer in 3 s) is unhealthy.
import { request } from "node:http";

const socketPath = process.argv[2] ?? "/run/pg_meminfo/sidecar.sock";
const req = request({ socketPath, path: "/v1/summary?columns=pid", timeout: 3000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 401 ? 0 : 1);
});
req.on("timeout", () => req.destroy(new Error("no answer in 3 s")));
req.on("error", (err) => {
  console.error(`sidecar-healthcheck: ${err.message}`);
  process.exit(1);
});
req.end();
