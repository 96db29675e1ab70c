/** The shape of settings.json: the resolved configuration (`Config`), below both config.ts and settings.ts. */
import "./zod-setup.js";
import * as z from "zod";
import { configFields } from "./schemas.js";

/** Every key resolved, but for those that have no default. */
export const settingsSchema = configFields
  .partial({ model: true, permissionMode: true, tmuxSocket: true, notifyCommand: true, budgetUsd: true, stageBudgetUsd: true })
  // Keys added after 0.1: an orchestration started before them reads their default.
  .extend({
    allowedTools: configFields.shape.allowedTools.default([]),
    prices: configFields.shape.prices.default({}),
    onBudget: configFields.shape.onBudget.default("pause"),
    circuitBreaker: configFields.shape.circuitBreaker.default(3),
    escalation: configFields.shape.escalation.default([]),
    hosts: configFields.shape.hosts.default({}),
    sshOptions: configFields.shape.sshOptions.default([]),
    hostGraceSeconds: configFields.shape.hostGraceSeconds.default(60),
    sandbox: configFields.shape.sandbox.default(true),
    sandboxDomains: configFields.shape.sandboxDomains.default([]),
    validateEnv: configFields.shape.validateEnv.default([]),
    /** Names (never values) of the variables passed from the person's shell to every session. */
    agentEnv: z.array(z.string()).default([]),
  });

/** The resolved configuration (the shape settings.json keeps). */
export type Config = z.infer<typeof settingsSchema>;
