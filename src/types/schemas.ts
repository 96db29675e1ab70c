/**
 * Every file autorun writes is a zod schema: events (event-schema.ts), status.json
 * (status-schema.ts), configuration (config-schema.ts). Imported from here.
 */
export { ATTENTION, PHASES, STAGE_STATUS } from "./constants.js";
export * from "./event-schema.js";
export * from "./status-schema.js";
export * from "./config-schema.js";
