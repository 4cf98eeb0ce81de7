// One chat choice's text: generated ids -> UTF-8-safe text deltas (StreamDecoder), with stop strings applied.
// Text that could be the start of a stop string is held back until it is known not to be one; generation
// ends before the stop string, which is never sent. The tokens of one runner call (up to multi-step's 8 per
// stream) arrive in one task, so their text leaves as one event at the end of it (vLLM's stream interval): the
// client gets it at the same moment, in one SSE chunk instead of one per token, and the server and the client
// each parse and write an eighth as many JSON objects.
import type { ChatEvent, FinishReason } from '../engine-types.ts';
import type { TextOutput } from './request.ts';
import type { StreamDecoder } from './text-tokenizer.ts';

export class ChoiceText implements TextOutput {
  private held = '';
  /** Tokens generated since the last text event (what that event covers). */
  private pendingTokens = 0;
  /** Text decided since the last text event, sent at the end of this task. */
  private pendingText = '';
  private flushQueued = false;
  private stopped = false;

  constructor(
    private readonly index: number,
    private readonly decoder: StreamDecoder,
    private readonly stop: readonly string[],
    private readonly emit: (event: ChatEvent) => void,
  ) {}

  token(id: number): boolean {
    this.pendingTokens++;
    const text = this.held + this.decoder.push(id);
    const cut = firstStop(text, this.stop);
    if (cut >= 0) {
      this.send(text.slice(0, cut));
      this.stopped = true;
      return true;
    }
    const keep = heldBack(text, this.stop);
    this.send(text.slice(0, text.length - keep));
    this.held = text.slice(text.length - keep);
    return false;
  }

  finish(reason: FinishReason, completionTokens: number): void {
    if (!this.stopped) this.send(this.held + this.decoder.end());
    this.held = '';
    this.flush();
    this.emit({ type: 'finish', index: this.index, reason, completionTokens });
  }

  private send(text: string): void {
    if (text === '') return;
    this.pendingText += text;
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.pendingText === '') return;
    const text = this.pendingText;
    this.pendingText = '';
    this.emit({ type: 'text', index: this.index, text, tokens: this.pendingTokens });
    this.pendingTokens = 0;
  }
}

/** Index of the earliest stop string in `text`, or -1. */
export function firstStop(text: string, stop: readonly string[]): number {
  let first = -1;
  for (const s of stop) {
    if (s === '') continue;
    const at = text.indexOf(s);
    if (at >= 0 && (first < 0 || at < first)) first = at;
  }
  return first;
}

/** Length of the longest end of `text` that begins some stop string (and so must wait for more text). */
export function heldBack(text: string, stop: readonly string[]): number {
  let keep = 0;
  for (const s of stop) {
    for (let n = Math.min(s.length - 1, text.length); n > keep; n--) {
      if (text.endsWith(s.slice(0, n))) {
        keep = n;
        break;
      }
    }
  }
  return keep;
}
