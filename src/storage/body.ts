import { PassThrough, type Readable } from 'node:stream';

/**
 * An object's body (an HTTP response) as the head of a stream pipeline, stoppable by it.
 *
 * Node's pipeline stops an HTTP response by aborting its request rather than destroying it. Once
 * the whole response has arrived (a small object, or the tail of a large one waiting unread behind
 * a slow reader) the request is finished and aborting it reaches nothing: the unread response is
 * never destroyed and the pipeline waits for it forever. Seen in verify: pg_restore --list stopped
 * reading an encrypted archive, and the listing's pipeline hung with only the body left open.
 * This stage in front of it is destroyed as any stream is, and destroys the response itself.
 */
export function pipelineBody(body: unknown): Readable {
  const response = body as Readable;
  const head = new PassThrough();
  response.once('error', (err) => head.destroy(err));
  head.once('close', () => response.destroy());
  response.pipe(head);
  return head;
}
