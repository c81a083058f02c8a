// The cron script's upload step: one PutObject of the whole gzipped file (what `aws s3api
// put-object` does), used by bench/run.mjs for the sequential baseline.
import { createReadStream, statSync } from 'node:fs';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

const [file, key] = process.argv.slice(2);
const s3 = new S3Client({
  endpoint: process.env.S3_ENDPOINT,
  region: process.env.AWS_REGION ?? 'us-east-1',
  forcePathStyle: true,
  requestChecksumCalculation: 'WHEN_REQUIRED',
  responseChecksumValidation: 'WHEN_REQUIRED',
});
if (file === '--create-bucket') {
  // The bench's mirror bucket; one that exists already is fine.
  await s3.send(new CreateBucketCommand({ Bucket: key })).catch((e) => {
    if (e.name !== 'BucketAlreadyOwnedByYou') throw e;
  });
  process.exit(0);
}
await s3.send(
  new PutObjectCommand({ Bucket: process.env.S3_BUCKET, Key: key, Body: createReadStream(file), ContentLength: statSync(file).size }),
);
