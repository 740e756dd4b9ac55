/** A promise that resolves after `ms` milliseconds (timer unref'd so it never holds the process open). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
