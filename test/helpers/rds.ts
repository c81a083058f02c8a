// RDS on moto's server for snapshot tests: an admin client, instances, IAM users that may do
// less, and a pass-through proxy that makes new snapshots take their time. moto reports a new
// snapshot `available` at once; real RDS spends minutes in `creating` with a PercentProgress,
// which is what the thread and the CLI follow. The proxy rewrites only that: every call still
// goes to moto over the real wire protocol.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import { createRdsFactory, type RdsFactory } from '../../src/snapshots/rds.js';
import type { BackupCatalog } from '../../src/storage/types.js';
import { startMoto, type MotoServer } from './moto.js';

export function rdsAdmin(moto: MotoServer, endpoint = moto.endpoint): RDSClient {
  return new RDSClient({ region: moto.region, endpoint, credentials: moto.credentials });
}

/** The factory the code under test gets: moto's endpoint comes from the target's config, these dummy keys from here. */
export function motoRds(moto: MotoServer): RdsFactory {
  return createRdsFactory({ credentials: moto.credentials });
}

export async function createInstance(admin: RDSClient, id: string): Promise<void> {
  await admin.send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: id,
      DBInstanceClass: 'db.t3.micro',
      Engine: 'postgres',
      AllocatedStorage: 20,
      MasterUsername: 'app',
      MasterUserPassword: 'not-a-secret-1',
    }),
  );
}

export interface RdsTargetSpec {
  readonly instanceId?: string;
  readonly keepLast?: number;
  readonly channels?: readonly string[];
  readonly users?: readonly string[];
  readonly alertAction?: 'dump' | 'snapshot' | 'both';
}

/** A config whose targets with `rds` point at `endpoint` (moto, or a proxy in front of it). */
export function rdsTestConfig(
  endpoint: string,
  targets: Readonly<Record<string, RdsTargetSpec | 'no-rds'>>,
  options: { readonly concurrency?: number; readonly alerts?: Readonly<Record<string, unknown>> } = {},
): Config {
  const doc = {
    storage: { bucket: 'backups', prefix: 'dumptruck' },
    queue: { concurrency: options.concurrency ?? 2, maxPending: 20, jobTimeout: '6h' },
    ...(options.alerts ? { alerts: options.alerts } : {}),
    targets: Object.fromEntries(
      Object.entries(targets).map(([name, t]) => [
        name,
        {
          url: `postgres://backup@127.0.0.1:5432/${name.replace(/-/g, '_')}`,
          ...(t === 'no-rds'
            ? {}
            : {
                channels: t.channels ?? [],
                users: t.users ?? [],
                rds: { instanceId: t.instanceId ?? `${name}-prod`, region: 'us-east-1', endpoint },
                ...(t.keepLast ? { snapshots: { keepLast: t.keepLast } } : {}),
                ...(t.alertAction ? { alertAction: t.alertAction } : {}),
              }),
        },
      ]),
    ),
  };
  return parseConfig(JSON.stringify(doc), {});
}

/** IAM's Query API on moto: before auth is switched on, moto takes any well-formed request. */
async function iam(moto: MotoServer, params: Record<string, string>): Promise<string> {
  const response = await fetch(`${moto.endpoint}/`, {
    method: 'POST',
    body: new URLSearchParams({ Version: '2010-05-08', ...params }),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=${moto.credentials.accessKeyId}/20240101/${moto.region}/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`IAM ${params.Action}: ${response.status} ${text}`);
  return text;
}

/**
 * An IAM user allowed only `actions`, and moto's authorization switched on for every later
 * request (so use a moto of its own). Returns the user's keys.
 */
export async function restrictedUser(
  moto: MotoServer,
  name: string,
  actions: readonly string[],
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  await iam(moto, { Action: 'CreateUser', UserName: name });
  await iam(moto, {
    Action: 'PutUserPolicy',
    UserName: name,
    PolicyName: 'dumptruck-test',
    PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: actions, Resource: '*' }] }),
  });
  const key = await iam(moto, { Action: 'CreateAccessKey', UserName: name });
  const accessKeyId = /<AccessKeyId>([^<]+)</.exec(key)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)</.exec(key)?.[1];
  if (!accessKeyId || !secretAccessKey) throw new Error(`no access key in ${key}`);
  const reset = await fetch(`${moto.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  await reset.arrayBuffer(); // read to the end: see the note on fetch in test/cli/cli.test.ts
  if (!reset.ok) throw new Error(`moto reset-auth: ${reset.status}`);
  return { accessKeyId, secretAccessKey };
}

export interface SlowRds {
  /** Point targets' rds.endpoint here. */
  readonly endpoint: string;
  /** The next new snapshot answers `creating` with these percents, one poll each, then moto's own answer. */
  creating(percents: readonly number[]): void;
  /** New snapshots stay `creating` until release(). */
  hold(): void;
  release(): void;
  /** DescribeDBSnapshots calls for one snapshot seen so far. */
  readonly polls: () => number;
  close(): Promise<void>;
}

export async function startSlowRds(moto: MotoServer): Promise<SlowRds> {
  let script: number[] = [];
  let held = false;
  let polls = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const params = new URLSearchParams(body);
        const action = params.get('Action');
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers))
          if (typeof v === 'string' && k !== 'host' && k !== 'content-length') headers[k] = v;
        const upstream = await fetch(`${moto.endpoint}${req.url ?? '/'}`, {
          method: req.method ?? 'POST',
          headers,
          body: req.method === 'GET' ? undefined : body,
        });
        let text = await upstream.text();
        const following = action === 'DescribeDBSnapshots' && params.has('DBSnapshotIdentifier');
        if (following) polls++;
        if ((action === 'CreateDBSnapshot' && (held || script.length > 0)) || (following && (held || script.length > 0))) {
          const percent = held ? 5 : action === 'CreateDBSnapshot' ? 0 : script.shift()!;
          text = text.replace('<Status>available</Status>', `<Status>creating</Status><PercentProgress>${percent}</PercentProgress>`);
        }
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/xml' }).end(text);
      })().catch((err: unknown) => res.writeHead(502).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    creating(percents) {
      script = [...percents];
    },
    hold() {
      held = true;
    },
    release() {
      held = false;
    },
    polls: () => polls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** moto, an admin client, the slow proxy in front of moto, and these instances: what a Slack snapshot test needs. */
export interface RdsServers {
  readonly moto: MotoServer;
  readonly admin: RDSClient;
  readonly slow: SlowRds;
  stop(): Promise<void>;
}

export async function startRdsServers(instances: readonly string[]): Promise<RdsServers> {
  const moto = await startMoto();
  const admin = rdsAdmin(moto);
  const slow = await startSlowRds(moto);
  for (const id of instances) await createInstance(admin, id);
  return {
    moto,
    admin,
    slow,
    async stop() {
      admin.destroy();
      await slow.close();
      await moto.stop();
    },
  };
}

/** A catalog for bots whose tests never look at stored backups. */
export const NO_BACKUPS: BackupCatalog = {
  list: async () => [],
  resolve: async () => {
    throw new Error('no backups in these tests');
  },
  link: async () => {
    throw new Error('no backups in these tests');
  },
  linkStored: async () => {
    throw new Error('no backups in these tests');
  },
};
