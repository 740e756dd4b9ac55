/**
 * A small seeded random number generator (mulberry32): the same seed gives the same sequence,
 * so a simulation or a fault-injection run that failed can be run again exactly.
 */

/**
 * Returns a function giving numbers in [0, 1), the same sequence for the same seed.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * const delayMs = 10 + random() * 90;
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
