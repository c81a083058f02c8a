import type { DumptruckError } from '../../errors.js';
import type { BackupResult, JobEvent, ProgressInfo, StartedInfo, Trigger } from '../../jobs/events.js';

// What a job's thread shows, folded from its events. The builders render a view; the reporter
// keeps the newest one, so a skipped or rate-limited edit loses nothing.

export type Phase =
  | { readonly kind: 'queued'; readonly position: number }
  | { readonly kind: 'running'; readonly started?: StartedInfo; readonly progress?: ProgressInfo }
  | { readonly kind: 'finished'; readonly result: BackupResult }
  | { readonly kind: 'failed'; readonly error: DumptruckError; readonly started?: StartedInfo; readonly progress?: ProgressInfo };

export interface ThreadView {
  readonly jobId: string;
  readonly target: string;
  readonly trigger: Trigger;
  readonly phase: Phase;
}

export function applyEvent(view: ThreadView, event: JobEvent): ThreadView {
  const { phase } = view;
  const running = phase.kind === 'running' ? phase : {};
  switch (event.type) {
    case 'queued':
      return { ...view, phase: { kind: 'queued', position: event.position } };
    case 'started':
      return { ...view, phase: { kind: 'running', started: event.info } };
    case 'progress':
      return { ...view, phase: { ...running, kind: 'running', progress: event.progress } };
    case 'finished':
      return { ...view, phase: { kind: 'finished', result: event.result } };
    case 'failed':
      return { ...view, phase: { ...running, kind: 'failed', error: event.error } };
  }
}

export function isFinal(view: ThreadView): boolean {
  return view.phase.kind === 'finished' || view.phase.kind === 'failed';
}

export function isCancelled(phase: Phase): boolean {
  return phase.kind === 'failed' && phase.error.code === 'CANCELLED';
}
