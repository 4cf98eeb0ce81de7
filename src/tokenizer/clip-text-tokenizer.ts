// The text tokenizer a model folder declares for its CLIP text tower (unitok_config.json "clip.text_tokenizer"):
// open_clip's BPE (clip-bpe.ts) or a closed word list (clip_words.json, the demo model's; the twin of
// unitok/demo/world.py clip_tokenize). A folder that declares none has no tokenizer, and says why.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClipBpeTokenizer, ClipTokenizerError } from './clip-bpe.ts';
import type { ClipManifest } from './unitok.ts';

export type ClipTextTokenizerKind = 'clip-bpe' | 'words';

export interface ClipTextTokenizer {
  readonly kind: ClipTextTokenizerKind;
  /** One row of ids: start of text, the text's ids, end of text, cut to `contextLength` with end of text last. */
  tokenize(text: string, contextLength: number): number[];
}

interface WordsFile {
  format: string;
  pad: number;
  unk: number;
  sot: number;
  eot: number;
  words: Record<string, number>;
}

const NOT_ALNUM = /[^\p{L}\p{N}]/gu;

/** world.clip_tokenize: lower-case, non-alphanumerics as spaces, one id per word (unknown words share one id). */
export class ClipWordTokenizer implements ClipTextTokenizer {
  readonly kind = 'words';
  private readonly words: Map<string, number>;

  constructor(private readonly file: WordsFile) {
    this.words = new Map(Object.entries(file.words));
  }

  static load(path: string): ClipWordTokenizer {
    let file: WordsFile;
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as WordsFile;
    } catch (err) {
      throw new ClipTokenizerError(`cannot read the CLIP word vocabulary ${path}: ${(err as Error).message}`);
    }
    if (
      file.format !== 'unitok-clip-words' ||
      typeof file.words !== 'object' ||
      !Number.isInteger(file.eot)
    ) {
      throw new ClipTokenizerError(`${path}: not a unitok-clip-words vocabulary`);
    }
    return new ClipWordTokenizer(file);
  }

  tokenize(text: string, contextLength: number): number[] {
    const words = text.toLowerCase().replace(NOT_ALNUM, ' ').split(' ').filter(Boolean);
    const ids = words.slice(0, contextLength - 2).map((w) => this.words.get(w) ?? this.file.unk);
    return [this.file.sot, ...ids, this.file.eot];
  }
}

class BpeRows implements ClipTextTokenizer {
  readonly kind = 'clip-bpe';
  constructor(private readonly bpe: ClipBpeTokenizer) {}
  tokenize(text: string, contextLength: number): number[] {
    return this.bpe.tokenize(text, contextLength);
  }
}

/** The folder's CLIP text tokenizer, or the reason it has none (a string to show clients). */
export function loadClipTextTokenizer(
  dir: string,
  clip: ClipManifest | undefined,
): { tokenizer: ClipTextTokenizer } | { tokenizer: null; reason: string } {
  if (!clip) {
    return {
      tokenizer: null,
      reason:
        'the model folder declares no CLIP text tokenizer (its unitok_config.json predates the "clip" section; convert it again)',
    };
  }
  const declared = clip.text_tokenizer;
  if (!declared) {
    return {
      tokenizer: null,
      reason: `the model has no CLIP text tokenizer${clip.text_tokenizer_note ? `: ${clip.text_tokenizer_note}` : ''}`,
    };
  }
  const path = join(dir, declared.file);
  if (declared.type === 'clip-bpe') return { tokenizer: new BpeRows(ClipBpeTokenizer.load(path)) };
  if (declared.type === 'words') return { tokenizer: ClipWordTokenizer.load(path) };
  throw new ClipTokenizerError(
    `${dir}/unitok_config.json: unknown clip.text_tokenizer.type ${JSON.stringify((declared as { type: unknown }).type)}`,
  );
}
