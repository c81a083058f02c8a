export { createLogger, jobLogger, logJobEvents, type LogDestination, type LogFormat, type Logger, type LoggerOptions } from './logger.js';
export { Redactor, REDACTED, secretsInEnv } from '../redact.js';
export { logUnexpectedErrors } from './unexpected.js';
export { instrumentRunner, type Instrumentation } from './instrument.js';
export { createMetrics, observeJob, type Metrics, type MetricsOptions, type QueueStatusSource } from './metrics.js';
export {
  bucketCheck,
  createHealthHandler,
  flagCheck,
  healthRoutes,
  serveHealth,
  type CheckResult,
  type FlagCheck,
  type HealthHandler,
  type HealthOptions,
  type ReadinessCheck,
} from './health.js';
