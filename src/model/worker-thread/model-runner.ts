// The model runner: the MLLM's six ONNX sessions and their KV memory (kv-cache.ts), executing one step plan at a
// time (protocol/steps.ts). It runs inside the runner worker and holds no request state; see docs/graphs.md for
// the IO of each graph. The depth head gets its own small KV buffers of K positions, refilled from position 0 for
// every visual token.
import * as ort from 'onnxruntime-node';
import { readBundle } from '../bundle.ts';
import { Mulberry32 } from '../protocol/rng.ts';
import {
  type DecodeRun,
  type Head,
  type HeadResult,
  headSlots,
  type ImageHead,
  type PrefillRun,
  type RunnerInfo,
  type RunnerOptions,
  type Segment,
  type StepPlan,
  type StepResult,
  type StepTimings,
} from '../protocol/steps.ts';
import { defaultThreads } from '../threads.ts';
import { openSession } from './devices.ts';
import { EmbeddingTable } from './embedding-table.ts';
import { checkKvMemory, KvCache } from './kv-cache.ts';
import { LogitsBuffer } from './logits.ts';
import type { StepExecutor } from './runner-service.ts';
import { type Sampled, type SampleRow, sampleRows } from './sampler.ts';
import { sampleGuided } from './sampling.ts';
import { type FloatData, type FloatType, floats, int64, newFloats, tensorInfo } from './tensors.ts';

/** Each slot's post-norm hidden state at its last position, from this step's llm runs. */
type Hidden = Map<number, FloatData>;

export class ModelRunner implements StepExecutor {
  private readonly sampled = new Map<number, Segment>();
  /** The step's text logits, one row per text head in plan order, written in place by the lm_head run. */
  private readonly logits: LogitsBuffer;
  /** code_embed's rows in memory (one run per code instead of two), unless too big. */
  private codeTable: EmbeddingTable | null = null;
  /** embed_tokens' rows in memory (no run for a step's text tokens), unless too big. */
  private tokenTable: EmbeddingTable | null = null;
  /** lm_head has an `argmax` output (bundles converted since it was added): all-greedy steps fetch only that. */
  private readonly graphArgmax: boolean;

  private constructor(
    private readonly sessions: Record<
      'embedTokens' | 'visualEmbed' | 'llm' | 'lmHead' | 'depthHead' | 'codeEmbed',
      ort.InferenceSession
    >,
    private readonly kv: KvCache,
    private readonly depthKv: KvCache,
    private readonly io: FloatType,
    readonly info: RunnerInfo,
  ) {
    this.logits = new LogitsBuffer(kv.rows * info.vocabSize);
    this.graphArgmax = sessions.lmHead.outputNames.includes('argmax');
  }

  static async load(opts: RunnerOptions): Promise<ModelRunner> {
    const bundle = readBundle(opts.bundleDir);
    const open = (role: keyof typeof bundle.graphs) =>
      openSession(bundle.graphs[role], opts.device, {
        intraOpThreads: opts.intraOpThreads ?? defaultThreads(bundle.graphs[role], opts.device),
      });
    // One at a time: a missing device fails on the first, with one clear error.
    const llm = await open('llm');
    const sessions = {
      llm,
      lmHead: await open('lm_head'),
      embedTokens: await open('embed_tokens'),
      visualEmbed: await open('visual_embed'),
      depthHead: await open('depth_head'),
      codeEmbed: await open('code_embed'),
    };
    const embeds = tensorInfo(llm, 'inputs_embeds');
    const context = Math.min(opts.contextLength ?? bundle.contextLength, bundle.contextLength);
    const info: RunnerInfo = {
      hiddenSize: Number(embeds.shape[2]),
      vocabSize: bundle.vocabSize,
      codesPerToken: bundle.image.codesPerToken,
      codebookSize: bundle.image.codebookSize,
      contextLength: context,
    };
    checkKvMemory(llm, opts.slots, context, opts.runners);
    const kv = new KvCache(llm, opts.slots, context);
    const depthKv = new KvCache(sessions.depthHead, opts.slots, info.codesPerToken);
    const runner = new ModelRunner(sessions, kv, depthKv, embeds.type as FloatType, info);
    const codes = (info.codesPerToken - 1) * info.codebookSize;
    runner.codeTable = await EmbeddingTable.load(
      { session: sessions.codeEmbed, input: 'code_ids', output: 'embeds' },
      codes,
      info.hiddenSize,
    );
    runner.tokenTable = await EmbeddingTable.load(
      { session: sessions.embedTokens, input: 'input_ids', output: 'inputs_embeds' },
      info.vocabSize,
      info.hiddenSize,
    );
    return runner;
  }

  async release(): Promise<void> {
    for (const session of Object.values(this.sessions)) await session.release();
  }

  async step(plan: StepPlan): Promise<StepResult> {
    try {
      return await this.execute(plan);
    } catch (err) {
      this.sampled.clear(); // a failed step sampled nothing
      throw err;
    }
  }

  private async execute(plan: StepPlan): Promise<StepResult> {
    const start = performance.now();
    const timings: StepTimings = { embed: 0, llm: 0, depth: 0, sample: 0, total: 0 };
    let heads = plan.heads;
    const steps = [await this.runStep(plan.decode, plan.prefill, heads, timings)];
    const count = plan.steps ?? 1;
    if (count > 1) {
      // Where each head row's next input lands: after its decode position, or after its prompt.
      const next = new Map<number, number>();
      plan.decode?.rows.forEach((r, slot) => {
        if (r.input) next.set(slot, r.position + 1);
      });
      for (const run of plan.prefill)
        run.rows.forEach((segments, b) => {
          next.set(run.firstSlot + b, this.rowLength(segments));
        });
      const slots = heads.flatMap(headSlots);
      const width = Math.max(...slots) + 1;
      for (let s = 1; s < count; s++) {
        const done = steps[s - 1];
        heads = heads.map((h, i) => ({ ...h, rng: done[i].rng }));
        const rows: DecodeRun['rows'] = Array.from({ length: width }, () => ({ input: null, position: 0 }));
        for (const slot of slots) {
          const position = next.get(slot);
          if (position === undefined)
            throw new Error(`slot ${slot} has a head but no row in the planned step`);
          rows[slot] = { input: 'sampled', position: position + s - 1 };
        }
        steps.push(await this.runStep({ rows }, [], heads, timings));
      }
    }
    timings.total = performance.now() - start;
    return { steps, timings };
  }

  /**
   * One step: the decode run, then the prefill runs, then one lm_head run over the rows that sample text (image
   * steps never pay for the vocabulary projection), then every head samples (and becomes the 'sampled' register).
   */
  private async runStep(
    decode: DecodeRun | null,
    prefill: PrefillRun[],
    plannedHeads: Head[],
    timings: StepTimings,
  ): Promise<HeadResult[]> {
    const hidden: Hidden = new Map();
    if (decode) {
      const inputs = decode.rows.map((r, slot) =>
        r.input ? [r.input === 'sampled' ? this.sampledBy(slot) : r.input] : null,
      );
      const positions = decode.rows.map((r) => (r.input ? r.position : 0));
      await this.runLlm(0, inputs, positions, hidden, timings);
    }
    for (const run of prefill) {
      const lengths = run.rows.map((segments) => this.rowLength(segments));
      await this.runLlm(
        run.firstSlot,
        run.rows,
        lengths.map((n) => n - 1),
        hidden,
        timings,
      );
    }

    const heads: HeadResult[] = new Array(plannedHeads.length);
    const textHeads = plannedHeads.flatMap((h, i) => (h.kind === 'text' ? [{ h, i }] : []));
    if (textHeads.length > 0) {
      const slots = textHeads.map(({ h }) => h.slot);
      const rows = textHeads.map(({ h }) => ({ sampling: h.sampling, rng: h.rng }));
      let drawn: Sampled[];
      if (this.graphArgmax && rows.every((r) => r.sampling.temperature <= 0)) {
        // All greedy: the best tokens alone come back; greedy consumes no draw, so each generator stays.
        const best = await this.lmHeadArgmax(slots, hidden, timings);
        drawn = rows.map((r, j) => ({ token: best[j], rng: r.rng }));
      } else {
        const logits = await this.lmHead(slots, hidden, timings);
        const t0 = performance.now();
        drawn = this.sampleText(rows, logits);
        timings.sample += performance.now() - t0;
      }
      textHeads.forEach(({ i }, j) => {
        heads[i] = { kind: 'text', token: drawn[j].token, rng: drawn[j].rng };
      });
    }
    const imageHeads = plannedHeads.flatMap((h, i) => (h.kind === 'image' ? [{ h, i }] : []));
    if (imageHeads.length > 0) {
      const results = await this.depth(
        imageHeads.map((x) => x.h),
        hidden,
        timings,
      );
      imageHeads.forEach(({ i }, j) => {
        heads[i] = results[j];
      });
    }
    // What this step sampled, for the next step's 'sampled' inputs.
    this.sampled.clear();
    plannedHeads.forEach((h, i) => {
      const r = heads[i];
      if (h.kind === 'text' && r.kind === 'text') this.sampled.set(h.slot, { ids: [r.token] });
      if (h.kind === 'image' && r.kind === 'image')
        for (const slot of headSlots(h)) this.sampled.set(slot, { codes: Int32Array.from(r.codes) });
    });
    return heads;
  }

  /** The hidden state of `slot` from this step's llm runs. */
  private hiddenOf(rows: Hidden, slot: number, head: string): FloatData {
    const hidden = rows.get(slot);
    if (!hidden) throw new Error(`${head} head on slot ${slot}, which no run of this step computed`);
    return hidden;
  }

  /** The best token of each text head's slot, in that order: one lm_head run fetching only its argmax output. */
  private async lmHeadArgmax(slots: number[], rows: Hidden, timings: StepTimings): Promise<number[]> {
    const t0 = performance.now();
    const { argmax } = await this.sessions.lmHead.run(
      { hidden: this.headInput(slots, rows) },
      { argmax: null },
    );
    timings.llm += performance.now() - t0;
    return Array.from(argmax.data as BigInt64Array, Number);
  }

  /** lm_head's input [T, D]: the hidden states of `slots`, in that order. */
  private headInput(slots: number[], rows: Hidden): ort.Tensor {
    const D = this.info.hiddenSize;
    const x = newFloats(this.io, slots.length * D);
    slots.forEach((slot, j) => {
      x.set(this.hiddenOf(rows, slot, 'text'), j * D);
    });
    return new ort.Tensor(this.io, x, [slots.length, D]);
  }

  /**
   * Logits [T, V] of the text heads' slots, in that order: one lm_head run into the preallocated buffer. The
   * argmax output is fetched too, unused: its nodes run either way, and at batch 8 the run was 2-15% shorter with
   * it than with `logits` alone (bench/lm-head.ts, docs/step-profile.md; the same at batch 1 and 4).
   */
  private async lmHead(slots: number[], rows: Hidden, timings: StepTimings): Promise<Float32Array> {
    const V = this.info.vocabSize;
    const T = slots.length;
    const logits = this.logits.data.subarray(0, T * V);
    const t0 = performance.now();
    await this.sessions.lmHead.run(
      { hidden: this.headInput(slots, rows) },
      {
        logits: new ort.Tensor('float32', logits, [T, V]),
        ...(this.graphArgmax ? { argmax: null } : {}),
      },
    );
    timings.llm += performance.now() - t0;
    return logits;
  }

  /**
   * One token per row of `logits` [rows.length, V], on this thread: with the buffer's SIMD scans (logits.ts) a
   * drawing row costs ~0.04 ms, less than handing rows to another thread (a sampler thread did until then).
   */
  private sampleText(rows: SampleRow[], logits: Float32Array): Sampled[] {
    return sampleRows({ vocab: this.info.vocabSize, logits, rows }, this.logits);
  }

  /** The previous step's sampled token (or visual token) of `slot`: the pipeline register behind 'sampled'. */
  private sampledBy(slot: number): Segment {
    const segment = this.sampled.get(slot);
    if (!segment)
      throw new Error(`slot ${slot} feeds 'sampled', but the previous step sampled nothing for it`);
    return segment;
  }

  // ------------------------------------------------------------------------------------------------ LLM runs

  /**
   * One LLM session.run over slots first .. first + rows.length - 1. Row b holds `rows[b]` (null: a hole) and its
   * last token lands at KV position `last[b]`, so its tokens follow its first last[b] + 1 - length cached
   * positions (0 for a prompt, any for a decode token or an appended turn); only its own positions are stored.
   * Records the hidden state of every non-hole row.
   */
  private async runLlm(
    first: number,
    rows: (Segment[] | null)[],
    last: number[],
    out: Hidden,
    timings: StepTimings,
  ): Promise<void> {
    const B = rows.length;
    const D = this.info.hiddenSize;
    const S = Math.max(...rows.map((r) => (r ? this.rowLength(r) : 1)));
    const t0 = performance.now();
    const x = await this.embed(rows, S);
    const t1 = performance.now();
    timings.embed += t1 - t0;
    // Row b's tokens land at positions last[b] - length + 1 .. last[b]; a hole stores nothing.
    const kvRows = rows.map((r, b) => {
      const count = r ? this.rowLength(r) : 0;
      return { past: r ? last[b] + 1 - count : 0, count };
    });
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor(this.io, x, [B, S, D]),
      logits_index: int64(
        kvRows.map((r) => Math.max(r.count - 1, 0)),
        [B],
      ),
    };
    this.kv.lengths(feeds, kvRows);
    this.kv.reserve(Math.max(...last) + 1);
    const fetches = { hidden: null, ...this.kv.bind(first, first + B, feeds) };
    const result = await this.sessions.llm.run(feeds, fetches);
    this.kv.append(first, result, kvRows);
    timings.llm += performance.now() - t1;
    const hidden = result.hidden.data as FloatData;
    rows.forEach((r, b) => {
      if (r) out.set(first + b, hidden.subarray(b * D, (b + 1) * D));
    });
  }

  /** Positions a row's segments take. */
  private rowLength(segments: Segment[]): number {
    return segments.reduce((n, seg) => n + this.lengthOf(seg), 0);
  }

  /** Positions a prompt segment takes: one per text token, one per visual token. */
  private lengthOf(seg: Segment): number {
    return 'ids' in seg ? seg.ids.length : seg.codes.length / this.info.codesPerToken;
  }

  /**
   * inputs_embeds [B, S, D] for rows of segments, right-padded with zeros (holes stay all zero): all text of the
   * run through one embed_tokens call, the images through one visual_embed call per size (all N tokens of an
   * image at once, causal inside, as prepare_inputs_for_multimodal does), then copied into place.
   */
  private async embed(rows: (Segment[] | null)[], S: number): Promise<FloatData> {
    const D = this.info.hiddenSize;
    const K = this.info.codesPerToken;
    const x = newFloats(this.io, rows.length * S * D);
    const placed = rows.flatMap((segments, b) => {
      let t = 0;
      return (segments ?? []).map((seg) => {
        const at = (b * S + t) * D;
        t += this.lengthOf(seg);
        return { seg, at };
      });
    });
    const texts = placed.flatMap(({ seg, at }) => ('ids' in seg ? [{ ids: seg.ids, at }] : []));
    if (texts.length > 0) {
      const ids = texts.flatMap((t) => t.ids);
      const e = this.tokenTable
        ? this.tokenTable.gather(ids)
        : ((await this.sessions.embedTokens.run({ input_ids: int64(ids, [1, ids.length]) })).inputs_embeds
            .data as FloatData);
      let offset = 0;
      for (const { ids: run, at } of texts) {
        x.set(e.subarray(offset * D, (offset + run.length) * D), at);
        offset += run.length;
      }
    }
    const images = placed.flatMap(({ seg, at }) => ('codes' in seg ? [{ codes: seg.codes, at }] : []));
    for (const N of new Set(images.map((i) => i.codes.length / K))) {
      const group = images.filter((i) => i.codes.length === K * N);
      const codes = group.flatMap((i) => Array.from(i.codes));
      const e = (await this.sessions.visualEmbed.run({ codes: int64(codes, [group.length, K, N]) }))
        .inputs_embeds.data as FloatData;
      group.forEach(({ at }, j) => {
        x.set(e.subarray(j * N * D, (j + 1) * N * D), at);
      });
    }
    return x;
  }

  // ------------------------------------------------------------------------------------------------ depth head

  /** K code steps for every image head at once: the rows of all heads form one depth-head batch. */
  private async depth(heads: ImageHead[], rows: Hidden, timings: StepTimings): Promise<HeadResult[]> {
    const D = this.info.hiddenSize;
    const K = this.info.codesPerToken;
    const C = this.info.codebookSize;
    // Rows of the depth batch: each head's conditional row, then its unconditional one (CFG).
    const slots = heads.flatMap(headSlots);
    const R = slots.length;
    let x: FloatData = newFloats(this.io, R * D);
    slots.forEach((slot, r) => {
      x.set(this.hiddenOf(rows, slot, 'image'), r * D);
    });
    const rngs = heads.map((h) => new Mulberry32(h.rng));
    const codes: number[][] = heads.map(() => []);
    for (let k = 0; k < K; k++) {
      const feeds: Record<string, ort.Tensor> = { inputs_embeds: new ort.Tensor(this.io, x, [R, 1, D]) };
      this.depthKv.lengths(feeds, new Array(R).fill({ past: k, count: 1 }));
      const fetches = { logits: null, ...this.depthKv.bind(0, R, feeds) }; // in place (GroupQueryAttention)
      let t0 = performance.now();
      const logits = floats((await this.sessions.depthHead.run(feeds, fetches)).logits);
      let t1 = performance.now();
      timings.depth += t1 - t0;
      let r = 0;
      const ids: number[] = [];
      heads.forEach((h, j) => {
        const rows = h.uncondSlot === null ? 1 : 2;
        const cond = logits.subarray(r * C, (r + 1) * C);
        const uncond = rows === 2 ? logits.subarray((r + 1) * C, (r + 2) * C) : null;
        const code = sampleGuided({ cond, uncond, guidanceScale: h.guidanceScale }, h.sampling, rngs[j]);
        codes[j].push(code);
        for (let i = 0; i < rows; i++) ids.push(k * C + code); // the shared code, fed to every row
        r += rows;
      });
      t0 = performance.now();
      timings.sample += t0 - t1;
      if (k === K - 1) break;
      x = this.codeTable
        ? this.codeTable.gather(ids)
        : ((await this.sessions.codeEmbed.run({ code_ids: int64(ids, [R, 1]) })).embeds.data as FloatData);
      t1 = performance.now();
      timings.depth += t1 - t0;
    }
    return heads.map((_, j) => ({ kind: 'image', codes: codes[j], rng: rngs[j].state }));
  }
}
