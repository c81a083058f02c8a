import type { Logger } from 'pino';
import type { AlertIntake } from '../alerts/intake.js';
import type { CommandDeps } from '../commands/handle.js';

/** What every listener gets from register(app, deps). */
export interface ListenerDeps extends CommandDeps {
  readonly logger: Logger;
  /** Messages in alerts.channels; absent: messages are ignored. */
  readonly alerts?: AlertIntake;
}
