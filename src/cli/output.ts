import type { CliIO } from './main.js';

/**
 * stdout for the CLI that a reader going away does not kill: `dumptruck list app-db | head -1`
 * closes the pipe after one line, and Node reports the next write as an unhandled EPIPE error
 * (a stack trace and exit code 1). Once the pipe is closed further output is dropped and the
 * command finishes as it would have, so a backup still completes and exits with its own status.
 */
export function closedPipeSafe(stream: NodeJS.WriteStream): CliIO['stdout'] {
  let closed = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    closed = true;
  });
  return {
    write: (text: string) => {
      if (!closed && !stream.destroyed) stream.write(text);
    },
    isTTY: stream.isTTY === true,
  };
}
