import type { App } from '@slack/bolt';
import { register as registerActions } from './actions/index.js';
import { register as registerCommands } from './commands/index.js';
import { register as registerMessages } from './messages/index.js';
import { register as registerViews } from './views/index.js';
import type { ListenerDeps } from './deps.js';

export type { ListenerDeps } from './deps.js';

export function register(app: App, deps: ListenerDeps): void {
  registerCommands(app, deps);
  registerActions(app, deps);
  registerMessages(app, deps);
  registerViews(app, deps);
}
