// The fleet queue's own tables (src/state/fleet.ts), kept apart from the queue so that the state
// store's migration can create them without loading pg-boss (the CLI opens the store for history).

/**
 * The fleet's own tables, beside pg-boss's schema: created by the state store's one migration
 * (openState, which every replica runs before its queue starts), with its clear error for a
 * role that lacks the right. Index entries come after their table.
 */
export function fleetTables(schema: string): { readonly name: string; readonly sql: string }[] {
  return [
    // Replicas and when each was last heard from: the stale check reads it.
    {
      name: 'fleet_replicas',
      sql: `create table if not exists ${schema}.fleet_replicas (replica text primary key, seen_at timestamptz not null)`,
    },
    // What pg-boss does not keep about a job: who runs it, its thread (opaque JSON), why it was cancelled.
    {
      name: 'fleet_jobs',
      sql: `create table if not exists ${schema}.fleet_jobs (
        boss_id uuid primary key,
        job_id text not null,
        replica text,
        place jsonb,
        cancel_reason text,
        created_at timestamptz not null default now()
      )`,
    },
    { name: 'fleet_jobs_replica', sql: `create index if not exists fleet_jobs_replica on ${schema}.fleet_jobs (replica)` },
    // Multipart uploads in progress, by replica: a dead replica's are aborted by the one that notices.
    {
      name: 'fleet_uploads',
      sql: `create table if not exists ${schema}.fleet_uploads (upload_id text primary key, replica text not null, created_at timestamptz not null default now())`,
    },
  ];
}
