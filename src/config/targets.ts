import { InputError } from '../errors.js';
import type { Config, EncryptConfig, TargetConfig } from './schema.js';

/** A target's config, or the one "unknown target" error every non-Slack entry point shows. */
export function lookupTarget(config: Pick<Config, 'targets'>, name: string): TargetConfig {
  const target = config.targets[name];
  if (!target) {
    throw new InputError(
      `unknown target ${JSON.stringify(name)}`,
      `known targets: ${Object.keys(config.targets).join(', ')}`,
      'UNKNOWN_TARGET',
    );
  }
  return target;
}

/** `link` for a target with `links: false` is refused: it offers no presigned links at all. */
export function requireLinks(config: Pick<Config, 'targets'>, name: string): void {
  if (lookupTarget(config, name).links === false) {
    throw new InputError(
      `download links are turned off for ${name} (targets.${name}.links: false)`,
      'download the object with your own S3 credentials instead',
      'NOT_ALLOWED',
    );
  }
}

/** The encryption a target's backups get: its own `encrypt`, else the top-level one; `encrypt: false` opts out. */
export function encryptionOf(config: Pick<Config, 'encrypt'>, target: TargetConfig): EncryptConfig | undefined {
  return target.encrypt === false ? undefined : (target.encrypt ?? config.encrypt);
}
