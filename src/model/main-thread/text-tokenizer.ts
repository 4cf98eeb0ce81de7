// The Llama-2 text tokenizer of the UniTok MLLM: SentencePiece BPE over 32000 ids with byte fallback, loaded from
// assets/llama2/tokenizer.json (built by scripts/build-llama-tokenizer.mjs) and run by @huggingface/tokenizers.
//
// Encoding follows the *legacy* slow LlamaTokenizer that the released VQA loader uses (transformers 4.39, sentencepiece
// add_dummy_prefix): every piece of text is prefixed with "▁" before BPE, including a piece that follows a special
// token written in the text ("...</s>USER:" encodes "USER:" as "▁US" "ER" ":"). Decoding is done here, on bytes,
// rather than by the package: its ByteFallback decoder drops a U+FEFF that a byte run starts with, while the Rust
// tokenizers and sentencepiece keep it. Otherwise the two agree (the tests compare them).
// The released checkpoint's tokenizer_config was not seen: were it `legacy: false`, the only difference would be
// the "▁" after a special-token string inside one text (multi-turn vicuna prompts), which it leaves out.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';

/** Ids the MLLM gives a meaning: pad = unk as the training code sets; boi/eoi are the byte tokens <0x00>/<0x01>. */
export const SPECIAL_IDS = Object.freeze({ pad: 0, unk: 0, bos: 1, eos: 2, boi: 3, eoi: 4 });
export const VOCAB_SIZE = 32000;
/** The placeholder string that `tokenizer_image_token` splits prompts on. */
export const IMAGE_PLACEHOLDER = '<image>';

export type PromptSegment = { type: 'text'; ids: number[] } | { type: 'image' };
export interface EncodeOptions {
  /** Prepend BOS (id 1); defaults to tokenizer_config.json's add_bos_token. */
  addBos?: boolean;
}
export interface DecodeOptions {
  /** Drop <unk>/<s>/</s> (ids 0-2), as the eval scripts' skip_special_tokens=True does. */
  skipSpecialTokens?: boolean;
}

const SPACE = '\u2581'; // "▁"
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;
/**
 * The text pipeline of Llama-2's tokenizer.json: SentencePiece's dummy prefix and whitespace escaping, no
 * pre-tokenizer, and the matching decoder. scripts/build-llama-tokenizer.mjs writes it; load() refuses any other,
 * since decode() (and the Python twin, unitok/text_tokenizer.py) implement exactly this one.
 */
export const LLAMA_PIPELINE = {
  normalizer: {
    type: 'Sequence',
    normalizers: [
      { type: 'Prepend', prepend: SPACE },
      { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
    ],
  },
  pre_tokenizer: null,
  decoder: {
    type: 'Sequence',
    decoders: [
      { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
      { type: 'ByteFallback' },
      { type: 'Fuse' },
      { type: 'Strip', content: ' ', start: 1, stop: 0 },
    ],
  },
};

interface TokenizerJson {
  added_tokens: { id: number; content: string; special?: boolean }[];
  model: { type: string; byte_fallback?: boolean; vocab: Record<string, number>; merges: unknown[] };
  [key: string]: unknown;
}
interface TokenizerConfigJson {
  add_bos_token: boolean;
  bos_token: string;
  eos_token: string;
  unk_token: string;
  [key: string]: unknown;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`);
  }
}

function check(ok: boolean, path: string, what: string): void {
  if (!ok) throw new Error(`${path}: ${what}`);
}

/** The single leading space the decoder's Strip step removes (SentencePiece's dummy prefix). */
const stripDummyPrefix = (text: string): string => (text.startsWith(' ') ? text.slice(1) : text);

export class LlamaTokenizer {
  private constructor(
    private readonly hf: Tokenizer,
    /** UTF-8 bytes each id decodes to ("▁" already turned into a space; byte tokens are one byte). */
    private readonly pieceBytes: Uint8Array[],
    private readonly specialIds: ReadonlySet<number>,
    private readonly addBosByDefault: boolean,
  ) {}

  /** Loads tokenizer.json + tokenizer_config.json from `dir` (e.g. assets/llama2) and checks they are Llama-2's. */
  static load(dir: string): LlamaTokenizer {
    const jsonPath = join(dir, 'tokenizer.json');
    const configPath = join(dir, 'tokenizer_config.json');
    const json = readJson(jsonPath) as TokenizerJson;
    const config = readJson(configPath) as TokenizerConfigJson;

    const model = json?.model;
    const isBpe = model?.type === 'BPE' && model.byte_fallback === true && Array.isArray(model.merges);
    check(isBpe, jsonPath, 'model is not BPE with byte_fallback and merges');
    for (const key of Object.keys(LLAMA_PIPELINE) as (keyof typeof LLAMA_PIPELINE)[]) {
      const same = JSON.stringify(json[key]) === JSON.stringify(LLAMA_PIPELINE[key]);
      check(same, jsonPath, `${key} is not the Llama SentencePiece one this module implements`);
    }
    const vocab = model.vocab ?? {};
    const pieces = new Array<string>(VOCAB_SIZE);
    for (const [piece, id] of Object.entries(vocab)) {
      const fresh = Number.isInteger(id) && id >= 0 && id < VOCAB_SIZE && pieces[id] === undefined;
      check(fresh, jsonPath, `vocab id ${id} of ${JSON.stringify(piece)} is out of range or repeated`);
      pieces[id] = piece;
    }
    check(Object.keys(vocab).length === VOCAB_SIZE, jsonPath, `vocab does not have ${VOCAB_SIZE} entries`);
    const specials = (json.added_tokens ?? []).filter((t) => t.special);
    const named: [number, unknown][] = [
      [SPECIAL_IDS.unk, config.unk_token],
      [SPECIAL_IDS.bos, config.bos_token],
      [SPECIAL_IDS.eos, config.eos_token],
    ];
    for (const [id, content] of named) {
      const ok = pieces[id] === content && specials.some((t) => t.id === id && t.content === content);
      check(ok, configPath, `special token ${String(content)} is not the special id ${id} of ${jsonPath}`);
    }
    check(
      pieces[SPECIAL_IDS.boi] === '<0x00>' && pieces[SPECIAL_IDS.eoi] === '<0x01>',
      jsonPath,
      'ids 3/4 are not <0x00>/<0x01>',
    );
    check(typeof config.add_bos_token === 'boolean', configPath, 'add_bos_token must be a boolean');

    const utf8 = new TextEncoder();
    const pieceBytes = pieces.map((piece) => {
      const byte = BYTE_PIECE.exec(piece);
      return byte ? Uint8Array.of(Number.parseInt(byte[1], 16)) : utf8.encode(piece.replaceAll(SPACE, ' '));
    });
    const hf = new Tokenizer(json, config);
    return new LlamaTokenizer(hf, pieceBytes, new Set(specials.map((t) => t.id)), config.add_bos_token);
  }

  get vocabSize(): number {
    return this.pieceBytes.length;
  }

  /** Token ids of `text`. Special-token strings in the text ("</s>") become their ids, as in transformers. */
  encode(text: string, { addBos = this.addBosByDefault }: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError(`text must be a string, got ${typeof text}`);
    // A lone UTF-16 surrogate has no UTF-8 form: the package would silently encode it as U+FFFD.
    if (/\p{Surrogate}/u.test(text))
      throw new TypeError('text contains a lone UTF-16 surrogate (not valid Unicode)');
    return this.hf.encode(text, { add_special_tokens: addBos }).ids;
  }

  /** Text of `ids`: bytes joined, invalid UTF-8 shown as U+FFFD, the first space (dummy prefix) removed. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    if (!Array.isArray(ids)) throw new TypeError('ids must be an array of token ids');
    const parts = ids.map((id) => this.bytesOf(id, options));
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      bytes.set(p, offset);
      offset += p.length;
    }
    return stripDummyPrefix(new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes));
  }

  /** An incremental decoder for generated ids; see StreamDecoder. */
  decodeStream(options: DecodeOptions = {}): StreamDecoder {
    return new StreamDecoder((id) => this.bytesOf(id, options));
  }

  /**
   * The released `tokenizer_image_token` (eval/liquid/mm_utils.py), as segments: the prompt is split on "<image>",
   * each chunk is tokenized on its own as `tokenizer(chunk).input_ids`, only the first chunk keeps its BOS, and an
   * image goes between chunks. Empty text segments are left out.
   *
   * Each chunk gets SentencePiece's dummy prefix, because the slow tokenizer adds it at the start of every text it is
   * given: the vicuna chunk "\n{question} ASSISTANT:" after an image becomes 29871 ("▁"), 13 ("\n"), ... and not 13, ...
   * as tokenizing the whole prompt at once would give. We keep that stray "▁": the model was trained on sequences
   * built by this same function, and both the legacy and the non-legacy slow tokenizer (and the fast one) agree
   * on it, since each chunk starts a new text.
   */
  encodePrompt(prompt: string): PromptSegment[] {
    if (typeof prompt !== 'string') throw new TypeError(`prompt must be a string, got ${typeof prompt}`);
    const segments: PromptSegment[] = [];
    prompt.split(IMAGE_PLACEHOLDER).forEach((chunk, i) => {
      if (i > 0) segments.push({ type: 'image' });
      const ids = this.encode(chunk, { addBos: i === 0 });
      if (ids.length > 0) segments.push({ type: 'text', ids });
    });
    return segments;
  }

  private bytesOf(id: number, { skipSpecialTokens = false }: DecodeOptions): Uint8Array {
    const bytes = Number.isInteger(id) ? this.pieceBytes[id] : undefined;
    if (bytes === undefined)
      throw new RangeError(`token id ${id} is not an integer in [0, ${this.vocabSize})`);
    return skipSpecialTokens && this.specialIds.has(id) ? new Uint8Array(0) : bytes;
  }
}

/**
 * Turns generated ids into text deltas whose concatenation (push deltas, then end()) equals decode(all ids).
 * A character whose UTF-8 bytes arrive over several byte-fallback tokens is held until complete, so no U+FFFD
 * shows up mid-way; the dummy-prefix space is dropped only at the very start, as a full decode does.
 */
export class StreamDecoder {
  private readonly utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
  private atStart = true;

  constructor(private readonly bytesOf: (id: number) => Uint8Array) {}

  /** The text that `id` completes ('' while a character is still incomplete). */
  push(id: number): string {
    return this.emit(this.utf8.decode(this.bytesOf(id), { stream: true }));
  }

  /** The rest: an unfinished byte sequence becomes U+FFFD, as in a full decode. The decoder is then reset. */
  end(): string {
    const rest = this.emit(this.utf8.decode());
    this.atStart = true;
    return rest;
  }

  private emit(text: string): string {
    if (!this.atStart || text === '') return text;
    this.atStart = false;
    return stripDummyPrefix(text);
  }
}
