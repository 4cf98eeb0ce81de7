// The model runner: the MLLM's five ONNX sessions and their KV memory, executing one step plan at a time
// (protocol.ts). It runs inside the runner worker and holds no request state; see docs/graphs.md for the IO of
// each graph.
//
// KV memory: one [slots, kv_heads, context, head_dim] buffer per layer for key and for value, passed to the LLM
// as both the past_key_values feed and the present fetch, so GroupQueryAttention writes new positions in place
// (onnxruntime-notes §1). A run over slots lo..hi-1 binds row views of those buffers. The depth head gets its
// own small buffers of K positions, refilled from position 0 for every visual token.
import { totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { readBundle } from '../bundle.ts';
import { Mulberry32 } from '../protocol/rng.ts';
import type {
  DecodeRun,
  Head,
  HeadResult,
  ImageHead,
  PrefillRun,
  RunnerInfo,
  RunnerOptions,
  Segment,
  StepPlan,
  StepResult,
  StepTimings,
} from '../protocol/steps.ts';
import { CodeTable } from './code-table.ts';
import { openSession } from './devices.ts';
import { LogitsBuffer } from './logits.ts';
import { sample, sampleGuided } from './sampling.ts';

/** Activations and KV in the graphs' io dtype: float32, or float16 as raw bits (onnxruntime-node on Node 20). */
type FloatType = 'float32' | 'float16';
type FloatData = Float32Array | Uint16Array;
const newFloats = (type: FloatType, n: number): FloatData =>
  type === 'float16' ? new Uint16Array(n) : new Float32Array(n);

/** What one LLM row produced this step. */
interface RowOutput {
  logits: Float32Array | null;
  hidden: FloatData | null;
}

const int32 = (values: Int32Array, dims = [values.length]) => new ort.Tensor('int32', values, dims);
const int64 = (values: ArrayLike<number>, dims: number[]) =>
  new ort.Tensor(
    'int64',
    BigInt64Array.from(values as number[], (v) => BigInt(v)),
    dims,
  );
const scalar = (v: number) => new ort.Tensor('int32', Int32Array.of(v), []);

function tensorInfo(
  session: ort.InferenceSession,
  name: string,
): { type: string; shape: (number | string)[] } {
  const meta = session.inputMetadata.find((m) => m.name === name) as
    | { type: string; shape: (number | string)[]; isTensor: boolean }
    | undefined;
  if (!meta) throw new Error(`graph has no input '${name}'`);
  return meta;
}

/** The most of the machine's memory the LLM's KV cache may reserve. */
const KV_MEMORY_SHARE = 0.5;

/** The past_key_values inputs of a decoder graph: names, dtype, [*, heads, *, headDim]. */
function kvLayout(session: ort.InferenceSession) {
  const names = session.inputNames.filter((n) => n.startsWith('past_key_values.'));
  if (names.length === 0) throw new Error('graph has no past_key_values inputs');
  const { type, shape } = tensorInfo(session, names[0]);
  return { names, type: type as FloatType, heads: Number(shape[1]), headDim: Number(shape[3]) };
}

/** Shared past/present buffers of one decoder stack, updated in place by GroupQueryAttention. */
class KvCache {
  /** Bytes the buffers of `session` take for `rows` slots of `capacity` positions. */
  static bytes(session: ort.InferenceSession, rows: number, capacity: number): number {
    const { names, type, heads, headDim } = kvLayout(session);
    return names.length * rows * heads * capacity * headDim * (type === 'float16' ? 2 : 4);
  }

  private readonly buffers: { feed: string; fetch: string; data: FloatData }[];
  private readonly type: FloatType;
  private readonly rowSize: number;
  private readonly heads: number;
  private readonly headDim: number;

  constructor(
    session: ort.InferenceSession,
    readonly rows: number,
    readonly capacity: number,
  ) {
    const { names, type, heads, headDim } = kvLayout(session);
    [this.type, this.heads, this.headDim] = [type, heads, headDim];
    this.rowSize = heads * capacity * headDim;
    this.buffers = names.map((feed) => ({
      feed,
      fetch: feed.replace('past_key_values.', 'present.'),
      data: newFloats(type, rows * this.rowSize),
    }));
  }

  /** Adds views of rows lo..hi-1 to a run's feeds and fetches (the same Tensor both ways: in place). */
  bind(
    lo: number,
    hi: number,
    feeds: Record<string, ort.Tensor>,
    fetches: Record<string, ort.Tensor | null>,
  ): void {
    if (lo < 0 || hi > this.rows || lo >= hi)
      throw new Error(`KV rows ${lo}..${hi - 1} outside 0..${this.rows - 1}`);
    const dims = [hi - lo, this.heads, this.capacity, this.headDim];
    for (const b of this.buffers) {
      const view = new ort.Tensor(this.type, b.data.subarray(lo * this.rowSize, hi * this.rowSize), dims);
      feeds[b.feed] = view;
      fetches[b.fetch] = view;
    }
  }
}

/** Float32 values of a float tensor (float16 outputs are converted). */
function floats(t: ort.Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  const half = t.data as Uint16Array;
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) {
    const h = half[i];
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    const mag =
      exp === 0
        ? mant * 2 ** -24
        : exp === 31
          ? mant
            ? Number.NaN
            : Number.POSITIVE_INFINITY
          : (1024 + mant) * 2 ** (exp - 25);
    out[i] = h & 0x8000 ? -mag : mag;
  }
  return out;
}

export class ModelRunner {
  private readonly sampled = new Map<number, Segment>();
  /** Text logits of every slot (row `slot`), written in place by the llm runs. */
  private readonly logits: LogitsBuffer;
  /** code_embed's rows in memory (one run per code instead of two), unless too big. */
  private codeTable: CodeTable | null = null;

  private constructor(
    private readonly s: Record<
      'embedTokens' | 'visualEmbed' | 'llm' | 'depthHead' | 'codeEmbed',
      ort.InferenceSession
    >,
    private readonly kv: KvCache,
    private readonly depthKv: KvCache,
    private readonly io: FloatType,
    readonly info: RunnerInfo,
    private readonly simulatedStepMs: number,
  ) {
    this.logits = new LogitsBuffer(kv.rows * info.vocabSize);
  }

  static async load(opts: RunnerOptions): Promise<ModelRunner> {
    const bundle = readBundle(opts.bundleDir);
    const open = (role: keyof typeof bundle.graphs) =>
      openSession(bundle.graphs[role], opts.device, { intraOpThreads: opts.intraOpThreads });
    // One at a time: a missing device fails on the first, with one clear error.
    const llm = await open('llm');
    const s = {
      llm,
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
    // Every slot reserves the whole context up front (shared in-place buffers); refuse sizes that cannot fit.
    const bytes = KvCache.bytes(llm, opts.slots, context);
    if (bytes > KV_MEMORY_SHARE * totalmem()) {
      const gib = (n: number) => (n / 2 ** 30).toFixed(1);
      throw new Error(
        `the KV cache would take ${gib(bytes)} GiB (${opts.slots} slots x ${context} positions), more than ` +
          `${KV_MEMORY_SHARE * 100}% of this machine's ${gib(totalmem())} GiB: lower --max-batch or the context length`,
      );
    }
    const kv = new KvCache(llm, opts.slots, context);
    const depthKv = new KvCache(s.depthHead, opts.slots, info.codesPerToken);
    const runner = new ModelRunner(s, kv, depthKv, embeds.type as FloatType, info, opts.simulatedStepMs ?? 0);
    runner.codeTable = await CodeTable.load(
      s.codeEmbed,
      (info.codesPerToken - 1) * info.codebookSize,
      info.hiddenSize,
    );
    return runner;
  }

  async release(): Promise<void> {
    for (const session of Object.values(this.s)) await session.release();
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
    const steps = [await this.once(plan.decode, plan.prefill, heads, timings)];
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
      const slots = heads.flatMap((h) => (h.kind === 'text' ? [h.slot] : h.slots));
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
        steps.push(await this.once({ rows }, [], heads, timings));
      }
    }
    timings.total = performance.now() - start;
    return { steps, timings };
  }

  /** One step: the decode run, then the prefill runs, then every head samples (and becomes the 'sampled' register). */
  private async once(
    decode: DecodeRun | null,
    prefill: PrefillRun[],
    plannedHeads: Head[],
    timings: StepTimings,
  ): Promise<HeadResult[]> {
    const textSlots = new Set(plannedHeads.flatMap((h) => (h.kind === 'text' ? [h.slot] : [])));
    const imageSlots = new Set(plannedHeads.flatMap((h) => (h.kind === 'image' ? h.slots : [])));
    const want = (slots: number[]) => ({
      logits: slots.some((s) => textSlots.has(s)),
      hidden: slots.some((s) => imageSlots.has(s)),
    });
    const rows = new Map<number, RowOutput>();
    // Decode first: its holes write position 0 of the slots that the prefill runs then overwrite.
    if (decode) {
      const inputs = decode.rows.map((r, slot) =>
        r.input ? [r.input === 'sampled' ? this.sampledBy(slot) : r.input] : null,
      );
      const positions = decode.rows.map((r) => (r.input ? r.position : 0));
      await this.runLlm(0, inputs, positions, want, rows, timings);
    }
    for (const run of prefill) {
      const lengths = run.rows.map((segments) => this.rowLength(segments));
      await this.runLlm(
        run.firstSlot,
        run.rows,
        lengths.map((n) => n - 1),
        want,
        rows,
        timings,
      );
    }

    const heads: HeadResult[] = new Array(plannedHeads.length);
    const t0 = performance.now();
    plannedHeads.forEach((h, i) => {
      if (h.kind !== 'text') return;
      const logits = rows.get(h.slot)?.logits;
      if (!logits) throw new Error(`text head on slot ${h.slot}, which no run of this step computed`);
      const rng = new Mulberry32(h.rng);
      heads[i] = { kind: 'text', token: sample(logits, h.sampling, rng, this.logits.argmax), rng: rng.state };
    });
    timings.sample += performance.now() - t0;
    const imageHeads = plannedHeads.flatMap((h, i) => (h.kind === 'image' ? [{ h, i }] : []));
    if (imageHeads.length > 0) {
      const results = await this.depth(
        imageHeads.map((x) => x.h),
        rows,
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
        for (const slot of h.slots) this.sampled.set(slot, { codes: Int32Array.from(r.codes) });
    });
    if (this.simulatedStepMs > 0) {
      const until = performance.now() + this.simulatedStepMs;
      while (performance.now() < until); // deliberately blocks this thread, as a big model's session.run would
    }
    return heads;
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
   * last token lands at KV position `last[b]`. Equal lengths and last = length - 1 make a first-prompt run; one
   * token per row makes a decode run. Records the output of every non-hole row.
   */
  private async runLlm(
    first: number,
    rows: (Segment[] | null)[],
    last: number[],
    want: (slots: number[]) => { logits: boolean; hidden: boolean },
    out: Map<number, RowOutput>,
    timings: StepTimings,
  ): Promise<void> {
    const B = rows.length;
    const D = this.info.hiddenSize;
    const S = Math.max(...rows.map((r) => (r ? this.rowLength(r) : 1)));
    const live = rows.flatMap((r, b) => (r ? [b] : []));
    const t0 = performance.now();
    const x = await this.embed(rows, S);
    const t1 = performance.now();
    timings.embed += t1 - t0;
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: new ort.Tensor(this.io, x, [B, S, D]),
      seqlens_k: int32(Int32Array.from(last)),
      total_sequence_length: scalar(Math.max(...last) + 1),
      logits_index: int64(S === 1 ? new Array(B).fill(0) : last, [B]),
    };
    // Only the outputs some head reads: without `logits` ORT skips the lm_head projection over the vocabulary.
    const needs = want(live.map((b) => first + b));
    const fetches: Record<string, ort.Tensor | null> = {};
    const V = this.info.vocabSize;
    // Each slot's logits land in its own row of the buffer, so a later run of the step leaves them alone.
    const logits = this.logits.data.subarray(first * V, (first + B) * V);
    if (needs.logits || !needs.hidden) fetches.logits = new ort.Tensor('float32', logits, [B, V]);
    if (needs.hidden) fetches.hidden = null;
    this.kv.bind(first, first + B, feeds, fetches);
    const result = await this.s.llm.run(feeds, fetches);
    timings.llm += performance.now() - t1;
    const hidden = needs.hidden ? (result.hidden.data as FloatData) : null;
    for (const b of live) {
      out.set(first + b, {
        logits: needs.logits ? logits.subarray(b * V, (b + 1) * V) : null,
        hidden: hidden ? hidden.subarray(b * D, (b + 1) * D) : null,
      });
    }
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
      const e = (await this.s.embedTokens.run({ input_ids: int64(ids, [1, ids.length]) })).inputs_embeds
        .data as FloatData;
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
      const e = (await this.s.visualEmbed.run({ codes: int64(codes, [group.length, K, N]) })).inputs_embeds
        .data as FloatData;
      group.forEach(({ at }, j) => {
        x.set(e.subarray(j * N * D, (j + 1) * N * D), at);
      });
    }
    return x;
  }

  // ------------------------------------------------------------------------------------------------ depth head

  /** K code steps for every image head at once: the rows of all heads form one depth-head batch. */
  private async depth(
    heads: ImageHead[],
    rows: Map<number, RowOutput>,
    timings: StepTimings,
  ): Promise<HeadResult[]> {
    const D = this.info.hiddenSize;
    const K = this.info.codesPerToken;
    const C = this.info.codebookSize;
    const slots = heads.flatMap((h) => h.slots);
    const R = slots.length;
    let x: FloatData = newFloats(this.io, R * D);
    slots.forEach((slot, r) => {
      const hidden = rows.get(slot)?.hidden;
      if (!hidden) throw new Error(`image head on slot ${slot}, which no run of this step computed`);
      x.set(hidden, r * D);
    });
    const rngs = heads.map((h) => new Mulberry32(h.rng));
    const codes: number[][] = heads.map(() => []);
    for (let k = 0; k < K; k++) {
      const feeds: Record<string, ort.Tensor> = {
        inputs_embeds: new ort.Tensor(this.io, x, [R, 1, D]),
        seqlens_k: int32(new Int32Array(R).fill(k)),
        total_sequence_length: scalar(k + 1),
      };
      const fetches: Record<string, ort.Tensor | null> = { logits: null };
      this.depthKv.bind(0, R, feeds, fetches);
      let t0 = performance.now();
      const logits = floats((await this.s.depthHead.run(feeds, fetches)).logits);
      let t1 = performance.now();
      timings.depth += t1 - t0;
      let r = 0;
      const ids: number[] = [];
      heads.forEach((h, j) => {
        const cond = logits.subarray(r * C, (r + 1) * C);
        const uncond = h.slots.length === 2 ? logits.subarray((r + 1) * C, (r + 2) * C) : null;
        const code = sampleGuided(cond, uncond, h.guidance, h.sampling, rngs[j]);
        codes[j].push(code);
        for (let i = 0; i < h.slots.length; i++) ids.push(k * C + code); // the shared code, fed to every row
        r += h.slots.length;
      });
      t0 = performance.now();
      timings.sample += t0 - t1;
      if (k === K - 1) break;
      x = this.codeTable
        ? this.codeTable.gather(ids)
        : ((await this.s.codeEmbed.run({ code_ids: int64(ids, [R, 1]) })).embeds.data as FloatData);
      t1 = performance.now();
      timings.depth += t1 - t0;
    }
    return heads.map((_, j) => ({ kind: 'image', codes: codes[j], rng: rngs[j].state }));
  }
}
