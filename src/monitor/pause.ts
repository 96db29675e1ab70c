/** The run's pause for a usage or rate limit: nothing launched or typed until its reset time. */
import { isApiRateLimit, parseResetTime } from "./pane.js";
import type { RunView } from "./parts.js";

/** A week and a day: no usage limit of Claude Code resets later than that. */
const LONGEST_LIMIT_MS = 8 * 24 * 3_600_000;

/**
 * Pauses the run until the reset time `raw` names (+ 30 s). Without one: a usage banner waits an
 * hour; the API's own 429 (limits per minute, after Claude Code has already retried for
 * minutes) waits five; a caller that knows better says how long.
 */
export function startRateLimit(view: Pick<RunView, "deps" | "emit">, raw: string, fallback?: number): void {
  const now = new Date(view.deps.clock.now());
  const reset = parseResetTime(raw, now);
  const fallbackMs = fallback ?? (isApiRateLimit(raw) ? 300_000 : 3_600_000);
  // A reset further off than Claude Code's longest (weekly) limit is no limit's: a screen or a hook
  // payload an agent wrote could otherwise hold the whole run for years.
  const until = new Date(Math.min(reset ? reset.getTime() + 30_000 : now.getTime() + fallbackMs, now.getTime() + LONGEST_LIMIT_MS));
  view.emit({ type: "rate_limited", resets_at: until.toISOString(), parsed: reset !== undefined, raw: raw.slice(0, 300) });
  view.deps.log(`usage limit hit (${raw.trim().slice(0, 120)}); pausing launches and nudges until ${until.toISOString()}`);
}
