// The real pg_dump, with its output held back at a chosen point: a runner's spawn for tests that
// need a backup certainly mid-stream (parts stored, the dump not finished) however loaded the
// machine is. While held, nothing reads pg_dump's stdout, so it blocks in write() and cannot end.
import { spawn as nodeSpawn } from 'node:child_process';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import type { SpawnFn } from '../../src/pipeline/pgdump.js';
import { eventually } from './bot-process.js';
import type { S3Handle } from './versitygw.js';

export interface HeldDump {
  /** For RunnerDeps.spawn: one pg_dump, whose output stops after `afterBytes` until release(). */
  readonly spawn: SpawnFn;
  /** Resolves once the output is held; rejects if the dump ended before it got that far. */
  readonly held: Promise<void>;
  /** Lets the rest of the output through. */
  release(): void;
}

export function holdDumpOutput(afterBytes: number): HeldDump {
  let resolveHeld!: () => void;
  let rejectHeld!: (err: Error) => void;
  const held = new Promise<void>((resolve, reject) => {
    resolveHeld = resolve;
    rejectHeld = reject;
  });
  held.catch(() => {}); // a test that never awaits it must not see an unhandled rejection
  let passed = 0;
  let released = false;
  let waiting: TransformCallback | undefined;

  const valve = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      passed += chunk.length;
      if (released || passed < afterBytes) return callback(null, chunk);
      this.push(chunk);
      waiting = callback;
      resolveHeld();
    },
    flush(callback) {
      rejectHeld(new Error(`pg_dump's output ended after ${passed} bytes, before the hold at ${afterBytes}`));
      callback();
    },
  });

  const spawn: SpawnFn = (command, args, options) => {
    const child = (nodeSpawn as unknown as SpawnFn)(command, args, options);
    const stdout = child.stdout;
    // pipeline() passes a destroy of the valve (the runner failing or cancelling) on to the real
    // pipe, so the child's 'close' still comes.
    pipeline(stdout, valve, () => {});
    (child as { stdout: Readable }).stdout = valve;
    return child;
  };

  return {
    spawn,
    held,
    release() {
      released = true;
      const callback = waiting;
      waiting = undefined;
      callback?.();
    },
  };
}

/** Waits until a multipart upload under `keyPrefix` exists in the store: parts went in, the object is not complete. */
export async function uploadInProgress(store: S3Handle, bucket: string, keyPrefix: string): Promise<void> {
  await eventually(
    async () => ((await store.listMultipartUploads(bucket)).some((u) => u.Key?.startsWith(keyPrefix)) ? true : undefined),
    `a multipart upload under ${keyPrefix}`,
  );
}
