/** A promise that resolves after `ms` milliseconds. Keeps the process alive meanwhile: every caller's wait is bounded. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
