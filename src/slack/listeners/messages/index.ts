import type { App } from '@slack/bolt';
import type { ListenerDeps } from '../deps.js';
import { alertMessage } from './alert.js';

export function register(app: App, deps: ListenerDeps): void {
  app.event('message', alertMessage(deps));
}
