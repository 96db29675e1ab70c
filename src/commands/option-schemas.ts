/**
 * The zod builders the command table checks options with, imported by name: the bundle then keeps
 * these and what they need, not the whole of zod (its JSON Schema tools, every locale), which each
 * command would otherwise compile as it starts.
 */
import "../types/zod-setup.js";
import { array, boolean, coerce, enum as zEnum, literal, object, string } from "zod";

export const optionBuilders = { array, boolean, coerce, enum: zEnum, literal, object, string };

export type OptionBuilders = typeof optionBuilders;
