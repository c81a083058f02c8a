// Faults and a request log on a real S3 client, through the SDK's own middleware stack: the
// requests that are let through still reach the real store, so a test can fail one part at an
// exact point of a stream and still check on the store what was left behind.
import type { S3Client } from '@aws-sdk/client-s3';

export interface S3Requests {
  /** Names of the commands sent, in order (e.g. 'UploadPartCommand'). */
  readonly sent: string[];
  /** Part numbers of the UploadPart requests that the store answered. */
  readonly partsStored: number[];
  /** How many UploadPart requests were failed on purpose. */
  readonly partsFailed: number;
}

export interface FaultOptions {
  /** UploadPart requests with a part number above this fail before they are sent. Default: none fail. */
  readonly failPartsAfter?: number;
  /** Only requests for this key are failed (others sharing the client pass). Default: any key. */
  readonly key?: string;
}

/** The error a store that went away gives; the message says it was injected, for whoever reads a failure. */
export function storeGoneError(): Error {
  return Object.assign(new Error('connect ECONNREFUSED (injected: the store went away mid-stream)'), { code: 'ECONNREFUSED' });
}

/** Records `client`'s requests and fails UploadPart as told. Added before the retry step, so a failure is final. */
export function withS3Faults(client: S3Client, options: FaultOptions = {}): S3Requests {
  const requests = { sent: [] as string[], partsStored: [] as number[], partsFailed: 0 };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown';
      requests.sent.push(command);
      if (command !== 'UploadPartCommand') return next(args);
      const input = args.input as { Key?: string; PartNumber?: number };
      const part = input.PartNumber ?? 0;
      if (part > (options.failPartsAfter ?? Infinity) && (options.key === undefined || input.Key === options.key)) {
        requests.partsFailed++;
        throw storeGoneError();
      }
      const out = await next(args);
      requests.partsStored.push(part);
      return out;
    },
    { step: 'initialize', name: 'testS3Faults' },
  );
  return requests;
}
