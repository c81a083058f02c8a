import type { App, BlockButtonAction } from '@slack/bolt';
import { ACTION_CANCEL, ACTION_DOWNLOAD, ACTION_RESTORE_APPROVE, ACTION_RESTORE_DENY, ACTION_RETRY } from '../../messages/format.js';
import type { ListenerDeps } from '../deps.js';
import { cancelButton } from './cancel.js';
import { downloadButton } from './download.js';
import { restoreButton } from './restore.js';
import { retryButton } from './retry.js';

export function register(app: App, deps: ListenerDeps): void {
  app.action<BlockButtonAction>(ACTION_CANCEL, cancelButton(deps));
  app.action<BlockButtonAction>(ACTION_RETRY, retryButton(deps));
  app.action(ACTION_DOWNLOAD, downloadButton());
  app.action<BlockButtonAction>(ACTION_RESTORE_APPROVE, restoreButton('approve', deps));
  app.action<BlockButtonAction>(ACTION_RESTORE_DENY, restoreButton('deny', deps));
}
