// Uploads for bench/run.mjs's baselines, with the SDK and nothing of dumptruck's:
//   put-object.mjs FILE KEY           the cron script's upload step: one PutObject of the whole
//                                     gzipped file (what `aws s3api put-object` does);
//   put-object.mjs --stdin KEY        stdin streamed to one object with lib-storage (5 MiB parts,
//                                     two in flight, as dumptruck's plan for bench_main), no hashing
//                                     and no manifest: what storing a pipe's output costs by itself
//                                     (`pg_dump | zstd | ...`); prints the bytes stored;
//   put-object.mjs --create-bucket B  the bench's mirror bucket; one that exists already is fine;
//   put-object.mjs --clear B PREFIX   deletes every object under PREFIX in bucket B: each bench run
//                                     starts from an empty prefix, so runs do not fill the disk.
import { createReadStream, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import { CreateBucketCommand, DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

const [file, key] = process.argv.slice(2);
const s3 = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.AWS_REGION ?? 'us-east-1',
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
if (file === '--create-bucket') {
  await s3.send(new CreateBucketCommand({ Bucket: key })).catch((e) => {
    if (e.name !== 'BucketAlreadyOwnedByYou') throw e;
  });
} else if (file === '--clear') {
  const [bucket, prefix] = process.argv.slice(3);
  if (!prefix) throw new Error('--clear needs a bucket and a non-empty prefix');
  let ContinuationToken;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken }));
    const keys = (page.Contents ?? []).map((o) => o.Key);
    for (let i = 0; i < keys.length; i += 8) {
      await Promise.all(keys.slice(i, i + 8).map((Key) => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key }))));
    }
    ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (ContinuationToken);
} else if (file === '--stdin') {
  let bytes = 0;
  const counted = new Transform({
    transform(chunk, _enc, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const Body = process.stdin.pipe(counted);
  await new Upload({
    client: s3,
    params: { Bucket: process.env.S3_BUCKET, Key: key, Body },
    partSize: 5 * 1024 * 1024,
    queueSize: 2,
  }).done();
  console.log(bytes);
} else {
  await s3.send(
    new PutObjectCommand({ Bucket: process.env.S3_BUCKET, Key: key, Body: createReadStream(file), ContentLength: statSync(file).size }),
  );
}
