/** Short form in `npm test`; long form with AUTORUN_STRESS=1 (`npm run stress`). */
export const STRESS = process.env.AUTORUN_STRESS === "1";
export const size = <T>(short: T, long: T): T => (STRESS ? long : short);

/** A small seeded random generator, so a failing run can be repeated (seed printed). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
