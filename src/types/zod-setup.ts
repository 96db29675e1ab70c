/**
 * zod, set up before any schema of autorun's is built (imported first by every module that builds
 * one). Without `jitless`, zod compiles a parser for each object schema with `new Function` at its
 * first parse. Most autorun processes are short (an agent's hooks and phase reports, `status`, a
 * launch) and parse each schema once or twice, so the compiling cost more than it saved: 50 ms of
 * CPU in each `status` or dry run, measured. It also keeps generated code out of the process.
 */
import { config } from "zod";

config({ jitless: true });
