import type { Logger } from 'pino';
import { requestedBy } from './names.js';
import type { SnapshotService } from './types.js';

/**
 * The service, logging each snapshot's life on a child logger (jobId, target): who asked and
 * from where, the identifier, the outcome. The tags on the snapshot are the lasting audit trail;
 * these lines put it next to the backups' in the bot's logs.
 */
export function loggedSnapshots(service: SnapshotService, log: Logger): SnapshotService {
  return {
    list: (target) => service.list(target),
    run: (request, options = {}) => {
      const jl = log.child({ jobId: request.jobId, target: request.target });
      return service.run(request, {
        ...options,
        onEvent: (event) => {
          switch (event.type) {
            case 'snapshot-started': {
              const { identifier, instanceId, region } = event.info;
              jl.info(
                { identifier, instanceId, region, requestedBy: requestedBy(request.trigger), source: request.trigger.detail },
                'snapshot requested',
              );
              break;
            }
            case 'snapshot-progress':
              jl.debug(
                { status: event.progress.status, percent: event.progress.percent, elapsedMs: event.progress.elapsedMs },
                'snapshot progress',
              );
              break;
            case 'finished': {
              const { identifier, allocatedGiB, durationMs, pruned, pruneError } = event.result;
              jl.info({ identifier, allocatedGiB, durationMs, deleted: pruned?.deleted, pruneError }, 'snapshot available');
              break;
            }
            case 'failed': {
              const { code, stage, message } = event.error;
              const stopped = stage === 'cancelled' || stage === 'timeout';
              jl[stopped ? 'warn' : 'error']({ code, stage, error: message }, stopped ? 'snapshot no longer followed' : 'snapshot failed');
              break;
            }
          }
          options.onEvent?.(event);
        },
      });
    },
  };
}
