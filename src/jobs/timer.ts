/** A setTimeout that never keeps a finished process alive; returns its cancel. */
export function unrefTimer(callback: () => void, ms: number): () => void {
  const timer = setTimeout(callback, ms);
  timer.unref();
  return () => clearTimeout(timer);
}
