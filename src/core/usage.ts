/**
 * What an agent's work cost: token usage read from Claude Code transcripts (one JSON object per
 * line; assistant messages carry `message.usage`, one line per content block, all with the same
 * message id) and priced in USD. Pure; the monitor does the reading (monitor/usage.ts).
 */
import type { Usage } from "../types/schemas.js";

export interface Price {
  /** USD per million input tokens. */
  input: number;
  output: number;
  /** Cache writes; 1.25 × input when not given. */
  cache_write?: number;
  /** Cache reads; 0.1 × input when not given. */
  cache_read?: number;
}

/**
 * USD per million tokens, matched against the model name by the longest key it contains. Current
 * Claude models; a project's `prices` config adds or overrides entries.
 */
const PRICES: Record<string, Price> = {
  "claude-opus-4-0": { input: 15, output: 75 },
  "claude-opus-4-1": { input: 15, output: 75 },
  "claude-opus-4-2025": { input: 15, output: 75 },
  opus: { input: 5, output: 25 },
  sonnet: { input: 3, output: 15 },
  "claude-3-5-haiku": { input: 0.8, output: 4 },
  haiku: { input: 1, output: 5 },
};

export const ZERO: Usage = { input_tokens: 0, output_tokens: 0, cache_creation_tokens: 0, cache_read_tokens: 0, usd: 0 };

export function priceFor(model: string, overrides: Record<string, Price> = {}): Price | undefined {
  const table = { ...PRICES, ...overrides };
  const name = model.toLowerCase();
  const key = Object.keys(table)
    .filter((k) => name.includes(k.toLowerCase()))
    .sort((a, b) => b.length - a.length)[0];
  return key === undefined ? undefined : table[key];
}

function costOf(u: Omit<Usage, "usd">, p: Price): number {
  const perToken = (x: number) => x / 1_000_000;
  return (
    u.input_tokens * perToken(p.input) +
    u.output_tokens * perToken(p.output) +
    u.cache_creation_tokens * perToken(p.cache_write ?? p.input * 1.25) +
    u.cache_read_tokens * perToken(p.cache_read ?? p.input * 0.1)
  );
}

/** a + b (or a − b with `sign` −1); the cost is unknown if either's is. */
export function addUsage(a: Usage, b: Usage, sign: 1 | -1 = 1): Usage {
  const n = (x: number, y: number) => Math.max(0, x + sign * y);
  return {
    input_tokens: n(a.input_tokens, b.input_tokens),
    output_tokens: n(a.output_tokens, b.output_tokens),
    cache_creation_tokens: n(a.cache_creation_tokens, b.cache_creation_tokens),
    cache_read_tokens: n(a.cache_read_tokens, b.cache_read_tokens),
    usd: a.usd === null || b.usd === null ? null : n(a.usd, b.usd),
  };
}

/** One transcript line: the assistant message it belongs to and that message's usage, if any. */
export function messageUsage(line: string, prices: Record<string, Price> = {}): { id: string; usage: Usage } | undefined {
  if (!line.includes('"usage"')) return undefined;
  let entry: { type?: unknown; message?: { id?: unknown; model?: unknown; usage?: Record<string, unknown> } };
  try {
    entry = JSON.parse(line) as typeof entry;
  } catch {
    return undefined;
  }
  const m = entry.message;
  if (entry.type !== "assistant" || !m || typeof m.id !== "string" || !m.usage || typeof m.usage !== "object") return undefined;
  const num = (k: string) => (typeof m.usage![k] === "number" && Number.isFinite(m.usage![k]) ? Math.max(0, m.usage![k] as number) : 0);
  const tokens = {
    input_tokens: num("input_tokens"),
    output_tokens: num("output_tokens"),
    cache_creation_tokens: num("cache_creation_input_tokens"),
    cache_read_tokens: num("cache_read_input_tokens"),
  };
  const price = typeof m.model === "string" ? priceFor(m.model, prices) : undefined;
  // Claude Code's own "<synthetic>" messages (an interruption, an API error) use nothing.
  const none = tokens.input_tokens + tokens.output_tokens + tokens.cache_creation_tokens + tokens.cache_read_tokens === 0;
  return { id: m.id, usage: { ...tokens, usd: price ? costOf(tokens, price) : none ? 0 : null } };
}

/** Dollars to the cent, for budgets: "$0.05", "$12.30". */
export function dollars(n: number): string {
  return `$${n.toFixed(2)}`;
}

/** "$0.42", "$12.30"; "1.2M tok" when a model had no price. */
export function formatCost(u: Usage | null): string {
  if (!u) return "—";
  // To the cent, as budgets are: "$12.30 of $20.00", never "$12.3 of $20.00".
  if (u.usd !== null) return dollars(u.usd);
  const t = u.input_tokens + u.output_tokens + u.cache_creation_tokens + u.cache_read_tokens;
  return t >= 1e6 ? `${(t / 1e6).toFixed(1)}M tok` : `${Math.round(t / 1e3)}k tok`;
}
