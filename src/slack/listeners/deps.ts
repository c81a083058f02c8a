import type { Logger } from 'pino';
import type { CommandDeps } from '../commands/handle.js';

/** What every listener gets from register(app, deps). */
export interface ListenerDeps extends CommandDeps {
  readonly logger: Logger;
}
