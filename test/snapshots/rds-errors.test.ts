import { DBInstanceNotFoundFault, InvalidDBInstanceStateFault, RDSServiceException, SnapshotQuotaExceededFault } from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import { userMessage } from '../../src/errors.js';
import { isTransient, rdsError, type RdsCallContext } from '../../src/snapshots/rds.js';

// The mapping of the provider's refusals, with the SDK's own exception classes. moto produces
// DBInstanceNotFound, SnapshotQuotaExceeded and AccessDenied for real (rds.moto.test.ts); it
// never refuses a snapshot for the instance's state, so that case is covered here only.

const ctx: RdsCallContext = {
  action: 'rds:CreateDBSnapshot',
  target: 'app-db',
  instanceId: 'app-db-prod',
  region: 'eu-west-1',
  identifier: 'dumptruck-app-db-20240501t030405z-000-c0ffee',
};

function sdkError<T>(Cls: new (opts: any) => T, message: string): T {
  return new Cls({ message, $metadata: { httpStatusCode: 400 } });
}

describe('rdsError', () => {
  it('instance not found: names the instance and the region', () => {
    const err = rdsError(sdkError(DBInstanceNotFoundFault, 'DBInstance app-db-prod not found.'), ctx);
    expect(err.code).toBe('RDS_INSTANCE_NOT_FOUND');
    expect(err.stage).toBe('snapshot');
    expect(userMessage(err)).toBe(
      "snapshot failed: instance app-db-prod not found in eu-west-1\nCheck targets.app-db.rds.instanceId (the DB identifier, not the endpoint's host name) and targets.app-db.rds.region.",
    );
  });

  it('snapshot quota: says the quota is used up and how to get room', () => {
    const err = rdsError(
      sdkError(SnapshotQuotaExceededFault, 'The request cannot be processed because it would exceed the maximum number of snapshots.'),
      ctx,
    );
    expect(err.code).toBe('RDS_SNAPSHOT_QUOTA');
    expect(err.message).toBe("the account's quota of manual DB snapshots in eu-west-1 is used up, so RDS refused a new one");
    expect(err.hint).toContain('targets.app-db.snapshots.keepLast');
    expect(err.hint).toContain('Service Quotas');
  });

  it('instance state: says the state when it is known, and that snapshots need it available', () => {
    const fault = sdkError(
      InvalidDBInstanceStateFault,
      'Cannot create a snapshot because the database instance app-db-prod is not currently in the available state.',
    );
    expect(rdsError(fault, { ...ctx, instanceStatus: 'stopped' }).message).toBe(
      'instance app-db-prod is stopped; snapshots need it available',
    );
    const unknown = rdsError(fault, ctx);
    expect(unknown.code).toBe('RDS_INSTANCE_STATE');
    expect(unknown.message).toMatch(/^instance app-db-prod is not available; snapshots need it available \(Cannot create a snapshot/);
  });

  it('access denied: which action was denied, and the policy to grant', () => {
    const denied = new RDSServiceException({
      name: 'AccessDenied',
      $fault: 'client',
      message: 'User: arn:aws:iam::123456789012:user/bot is not authorized to perform: rds:CreateDBSnapshot',
      $metadata: { httpStatusCode: 403 },
    });
    const err = rdsError(denied, ctx);
    expect(err.code).toBe('RDS_ACCESS_DENIED');
    expect(err.message).toBe(
      'AWS denied rds:CreateDBSnapshot on instance app-db-prod in eu-west-1: User: arn:aws:iam::123456789012:user/bot is not authorized to perform: rds:CreateDBSnapshot',
    );
    expect(err.hint).toContain('README');
    const unauthorized = Object.assign(new Error('You are not authorized to perform this operation.'), { name: 'UnauthorizedOperation' });
    expect(rdsError(unauthorized, { ...ctx, action: 'rds:DeleteDBSnapshot' }).message).toBe(
      'AWS denied rds:DeleteDBSnapshot on snapshot dumptruck-app-db-20240501t030405z-000-c0ffee in eu-west-1: You are not authorized to perform this operation.',
    );
  });

  it('credentials the provider rejects, or none at all', () => {
    const bad = Object.assign(new Error('The security token included in the request is invalid.'), { name: 'InvalidClientTokenId' });
    expect(rdsError(bad, ctx).message).toBe(
      "AWS rejected the bot's credentials calling rds:CreateDBSnapshot in eu-west-1 (InvalidClientTokenId: The security token included in the request is invalid.)",
    );
    const none = Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' });
    expect(rdsError(none, ctx).message).toBe('no AWS credentials found for rds:CreateDBSnapshot');
  });

  it("anything else keeps the provider's words with the action and instance", () => {
    const other = Object.assign(new Error('something odd'), { name: 'InternalFailure', $metadata: { httpStatusCode: 500 } });
    expect(rdsError(other, ctx).message).toBe(
      'rds:CreateDBSnapshot for instance app-db-prod in eu-west-1 failed: InternalFailure: something odd (HTTP 500)',
    );
    expect(rdsError(new Error('Region is missing'), { ...ctx, region: undefined }).message).toBe('no AWS region for targets.app-db.rds');
  });

  it('throttling, 5xx and network errors are worth another poll; refusals are not', () => {
    expect(isTransient(Object.assign(new Error('Rate exceeded'), { name: 'Throttling' }))).toBe(true);
    expect(isTransient(Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }))).toBe(true);
    expect(isTransient(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransient(sdkError(DBInstanceNotFoundFault, 'nope'))).toBe(false);
  });
});
