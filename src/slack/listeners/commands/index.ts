import type { App } from '@slack/bolt';
import type { ListenerDeps } from '../deps.js';
import { backupCommand } from './backup.js';

export function register(app: App, deps: ListenerDeps): void {
  app.command('/backup', backupCommand(deps));
}
