// The CLIP text tokenizer of the UniTok release (open_clip's SimpleTokenizer + tokenize()), the twin of
// unitok/clip_tokenizer.py: same ids on every string (test/clip-tokenizer.test.ts compares them on the reference
// cases and on seeded random strings).
//
// open_clip's cleaning and pre-tokenizer are ours (clip-text.ts: no library does ftfy or Python's html.unescape);
// the byte-level BPE itself is run by @huggingface/tokenizers from a tokenizer JSON built here from the merges
// file (bpe_simple_vocab_16e6.txt.gz): the 256 byte-characters, the same with `</w>`, the first 48,894 merges,
// then <start_of_text> 49406 and <end_of_text> 49407.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Tokenizer } from '@huggingface/tokenizers';
import { clean, preTokenize, SPECIAL_TOKENS } from './clip-text.ts';

/** open_clip: merges[1:49152-256-2+1], after the version header. */
export const MERGES_USED = 49152 - 256 - 2;
export const CLIP_CONTEXT_LENGTH = 77;
export const CLIP_MERGES_FILE = 'bpe_simple_vocab_16e6.txt.gz';

/** CLIP/GPT-2's reversible byte -> printable character map, in open_clip's order (printable bytes first). */
export function bytesToUnicode(): [byte: number, char: string][] {
  const bs: number[] = [];
  for (const [a, b] of [
    [0x21, 0x7e],
    [0xa1, 0xac],
    [0xae, 0xff],
  ])
    for (let c = a; c <= b; c++) bs.push(c);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  return bs.map((b, i) => [b, String.fromCodePoint(cs[i])]);
}

export class ClipTokenizerError extends Error {
  override name = 'ClipTokenizerError';
}

export class ClipBpeTokenizer {
  readonly vocabSize: number;
  readonly sotId: number;
  readonly eotId: number;

  private constructor(
    private readonly hf: Tokenizer,
    private readonly vocab: string[],
  ) {
    this.vocabSize = vocab.length;
    this.sotId = vocab.length - 2;
    this.eotId = vocab.length - 1;
  }

  /** From a gzipped merges file (open_clip's format: a version header, then one "a b" merge per line). */
  static load(path: string): ClipBpeTokenizer {
    let lines: string[];
    try {
      lines = gunzipSync(readFileSync(path)).toString('utf8').split('\n');
    } catch (err) {
      throw new ClipTokenizerError(`cannot read the CLIP BPE merges file ${path}: ${(err as Error).message}`);
    }
    const merges = lines.slice(1, MERGES_USED + 1).map((l) => l.split(/\s+/).filter(Boolean));
    if (merges.length !== MERGES_USED || merges.some((m) => m.length !== 2)) {
      throw new ClipTokenizerError(
        `${path}: expected ${MERGES_USED} merge lines of two symbols after the header`,
      );
    }
    const bytes = bytesToUnicode().map(([, ch]) => ch);
    const vocab = [
      ...bytes,
      ...bytes.map((b) => `${b}</w>`),
      ...merges.map((m) => m.join('')),
      ...SPECIAL_TOKENS,
    ];
    const hf = new Tokenizer(
      {
        added_tokens: SPECIAL_TOKENS.map((content, i) => ({
          id: vocab.length - 2 + i,
          content,
          special: true,
          normalized: false,
        })),
        normalizer: null,
        // Pieces arrive joined by single spaces (preTokenize's matches hold none); ByteLevel maps their bytes.
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { String: ' ' }, behavior: 'Removed' },
            { type: 'ByteLevel', add_prefix_space: false, use_regex: false },
          ],
        },
        post_processor: null,
        decoder: null,
        model: {
          type: 'BPE',
          vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
          merges: merges.map((m) => m.join(' ')),
          end_of_word_suffix: '</w>',
        },
      } as unknown as ConstructorParameters<typeof Tokenizer>[0],
      {},
    );
    return new ClipBpeTokenizer(hf, vocab);
  }

  /** BPE ids of a text, without <start_of_text> / <end_of_text> (open_clip's SimpleTokenizer.encode). */
  encode(text: string): number[] {
    const pieces = preTokenize(clean(text));
    if (pieces.length === 0) return [];
    return this.hf.encode(pieces.join(' '), { add_special_tokens: false }).ids;
  }

  /** One row of open_clip's tokenize() without its padding: sot, ids, eot, cut to the context with eot last. */
  tokenize(text: string, contextLength = CLIP_CONTEXT_LENGTH): number[] {
    if (contextLength < 2)
      throw new ClipTokenizerError(`contextLength must be at least 2, got ${contextLength}`);
    const row = [this.sotId, ...this.encode(text), this.eotId];
    if (row.length > contextLength) {
      row.length = contextLength;
      row[contextLength - 1] = this.eotId;
    }
    return row;
  }

  /** The vocabulary entry of an id (byte-characters, `</w>` marking a word end). */
  token(id: number): string | undefined {
    return this.vocab[id];
  }
}
