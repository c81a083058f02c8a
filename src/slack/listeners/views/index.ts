import type { App } from '@slack/bolt';
import { VIEW_RESTORE_REPLACE } from '../../messages/format.js';
import type { ListenerDeps } from '../deps.js';
import { replaceSubmitted } from './replace.js';

export function register(app: App, deps: ListenerDeps): void {
  app.view(VIEW_RESTORE_REPLACE, replaceSubmitted(deps));
}
