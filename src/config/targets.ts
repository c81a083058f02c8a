import { InputError } from '../errors.js';
import type { Config, TargetConfig } from './schema.js';

/** A target's config, or the one "unknown target" error every non-Slack entry point shows. */
export function lookupTarget(config: Pick<Config, 'targets'>, name: string): TargetConfig {
  const target = config.targets[name];
  if (!target) {
    throw new InputError(`unknown target ${JSON.stringify(name)}`, `known targets: ${Object.keys(config.targets).join(', ')}`, 'UNKNOWN_TARGET');
  }
  return target;
}
