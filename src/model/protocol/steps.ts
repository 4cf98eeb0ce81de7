// The one door between the scheduler (main thread) and the model runner (worker thread): a step plan in, the
// sampled tokens out. Plain data only (structured clone). The runner keeps no request state: it owns the
// weights and the KV memory; which slot belongs to which request, positions and generator states all live in
// the request objects and travel in every plan.
//
// Plans are pipelined: the scheduler sends step t+1 while step t computes, so the runner never waits for the
// main thread. A row of step t+1 therefore cannot name the token step t will sample; it says 'sampled', and the
// runner feeds what its previous step sampled for that slot (a one-step pipeline register, as vLLM's async
// scheduling keeps sampled ids on the device). Generator states need no such help: the scheduler predicts them.
//
// The same register lets one plan stand for several steps (vLLM's multi-step scheduling): after the planned step,
// the runner repeats a decode of every head's rows on what it just sampled, so short steps do not each pay a
// round trip between the threads. The scheduler applies stops afterwards and drops the tokens past them.
import type { SamplingSpec } from './rng.ts';

/** A piece of a prompt: text token ids, or one image's visual codes [K, N] codebook-major (visual_embed input). */
export type Segment = { ids: number[] } | { codes: Int32Array };

/**
 * First-prompt LLM run over the consecutive KV slots firstSlot .. firstSlot + rows.length - 1. Every row
 * starts at position 0; rows are right-padded to the longest (only a row's own positions are attended and stored).
 * Only fresh slots may be in the range, since a first-prompt run writes positions 0.. of every row.
 */
export interface PrefillRun {
  firstSlot: number;
  rows: Segment[][];
}

/**
 * One-position LLM run over slots 0 .. rows.length - 1, each at its own position (ragged KV lengths in one
 * batch). A row feeds its last text token ({ids: [token]}) or its last visual token's codes ({codes}, [K, 1]),
 * or 'sampled': whatever the previous step's head sampled for this slot. A null input is a hole (a free slot,
 * or one being prefilled this step): it computes at position 0 and its output is ignored. The runner runs
 * decode before prefill, so a hole never clobbers a prompt.
 */
export interface DecodeRun {
  rows: { input: Segment | 'sampled' | null; position: number }[];
}

/** Sample the next text token from a slot's logits. `rng` is the request's generator state. */
export interface TextHead {
  kind: 'text';
  slot: number;
  sampling: SamplingSpec;
  rng: number;
}

/**
 * Predict one visual token: the depth head runs K code steps from the LLM's last hidden state of `slot`, and of
 * `uncondSlot` too for classifier-free guidance (the unconditional prompt's row; null = no guidance), mixing
 * their logits with `guidanceScale` and feeding the one sampled code back to both rows.
 */
export interface ImageHead {
  kind: 'image';
  slot: number;
  uncondSlot: number | null;
  guidanceScale: number;
  sampling: SamplingSpec;
  rng: number;
}

/** The KV slots a head reads: its own, and an image's unconditional one. */
export function headSlots(head: Head): number[] {
  return head.kind === 'image' && head.uncondSlot !== null ? [head.slot, head.uncondSlot] : [head.slot];
}

export type Head = TextHead | ImageHead;

export interface StepPlan {
  decode: DecodeRun | null;
  prefill: PrefillRun[];
  /** One per sequence that advances; its slots must be rows of this step's runs. */
  heads: Head[];
  /**
   * Steps to run (default 1). Each step after the first decodes every head's rows at the next position, fed
   * 'sampled', with the generator state the previous step left; the caller keeps every row within its context.
   */
  steps?: number;
}

export type HeadResult =
  | { kind: 'text'; token: number; rng: number }
  | { kind: 'image'; codes: number[]; rng: number };

/** Where the step's time went, in ms (measured in the worker). */
export interface StepTimings {
  /** Embedding graphs (embed_tokens, visual_embed). */
  embed: number;
  llm: number;
  /** Depth head and code embeddings. */
  depth: number;
  sample: number;
  /** The whole step inside the worker. */
  total: number;
}

export interface StepResult {
  /** One entry per step run, each in the order of plan.heads. */
  steps: HeadResult[][];
  /** Summed over the steps. */
  timings: StepTimings;
}

export type Device = 'cpu' | 'webgpu' | 'cuda';

export interface RunnerOptions {
  bundleDir: string;
  device: Device;
  /** KV slots (rows of the shared cache buffers). */
  slots: number;
  /** Runners the engine starts alike (EngineOptions.runners), each with its own KV cache: the memory check counts them all. */
  runners?: number;
  /** Positions per slot; default and maximum: the bundle's context length. */
  contextLength?: number;
  intraOpThreads?: number;
}

/** What the loaded graphs say about the model (checked against the bundle by the engine). */
export interface RunnerInfo {
  hiddenSize: number;
  vocabSize: number;
  codesPerToken: number;
  codebookSize: number;
  /** KV capacity per slot: the longest sequence (prompt + output) served. */
  contextLength: number;
}
