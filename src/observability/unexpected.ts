import type { Logger } from 'pino';

/**
 * Logs promise rejections and exceptions nothing handled, instead of letting Node end the process
 * (its default for both). One broken listener or job must not stop every other backup: the job
 * runner and the queue already turn a job's errors into that job's failure, so what reaches here
 * is a bug to read in the logs, not a reason to drop running backups on the floor.
 * Returns a function that removes the handlers.
 */
export function logUnexpectedErrors(log: Logger, proc: Pick<NodeJS.Process, 'on' | 'removeListener'> = process): () => void {
  const onRejection = (reason: unknown) => log.error({ err: reason }, 'unhandled promise rejection; still running');
  const onException = (err: Error, origin: string) => log.error({ err, origin }, 'uncaught exception; still running');
  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  return () => {
    proc.removeListener('unhandledRejection', onRejection);
    proc.removeListener('uncaughtException', onException);
  };
}
