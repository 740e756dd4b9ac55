/**
 * A callback told once for each distinct item: for adapters that read the same history poll
 * after poll (a source's skipped deploy requests), where an item is news only the first time.
 */

/**
 * Wraps `tell` so that it runs once per key, for the life of the returned function. At most
 * `max` keys are remembered; past that the oldest is forgotten first. An item counts as told
 * before `tell` runs, so one that throws fails that call only.
 *
 * @example
 * ```ts
 * const warn = onceEach((s: { tag: string }) => s.tag, (s) => console.warn(`skipped ${s.tag}`));
 * warn({ tag: 'a' }); // warns
 * warn({ tag: 'a' }); // nothing
 * ```
 */
export function onceEach<T>(
  key: (item: T) => string,
  tell: (item: T) => void,
  max = 10_000,
): (item: T) => void {
  const told = new Set<string>();
  return (item) => {
    const k = key(item);
    if (told.has(k)) return;
    if (told.size >= max) told.delete(told.values().next().value!);
    told.add(k);
    tell(item);
  };
}
