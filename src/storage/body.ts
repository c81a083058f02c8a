import { PassThrough, type Readable } from 'node:stream';

/**
 * An object's body (an HTTP response) as the head of a stream pipeline, stoppable by it.
 *
 * Seen in verify: pg_restore --list stopped reading an encrypted archive, and the listing's
 * pipeline waited forever with every stream destroyed but the response, paused with its tail
 * unread. Node's pipeline stops an HTTP response through its request (req.abort()), not by
 * destroying it; the likely reason is that a request whose response has fully arrived is done and
 * no longer reaches it (a probe of that alone did not reproduce the hang, the instrumented test
 * did). This stage in front of the response is destroyed as any stream is, and destroys the
 * response itself, so the pipeline always settles.
 */
export function pipelineBody(body: unknown): Readable {
  const response = body as Readable;
  const head = new PassThrough();
  response.once('error', (err) => head.destroy(err));
  head.once('close', () => response.destroy());
  response.pipe(head);
  return head;
}
