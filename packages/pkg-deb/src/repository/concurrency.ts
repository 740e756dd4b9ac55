/** Bounded concurrency for the repository's many small file operations. */

/**
 * Maps with at most `limit` calls in flight, results in input order. At the first failure no
 * call starts any more, and it rejects with that failure once the calls in flight have settled:
 * nothing they do (a temporary file created, say) happens after it rejected.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async () => {
    // Each worker takes the next index until none is left or one failed: bounded by items.length.
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]!, i);
      } catch (error) {
        if (!failed) failure = error;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failure;
  return results;
}
