export { privateDir } from "../../harness/private-dir.js";
