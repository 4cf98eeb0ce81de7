// The runtime bundle's config.json (written by `python3 -m unitok convert`, documented in docs/bundle.md), read
// once and checked, as the typed view the engine and the model runner share. Nothing about the model is
// hard-coded elsewhere: sizes, special ids, prompt templates and sampling defaults all come from here.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MAX_BEST_OF } from './engine-types.ts';

export type GraphRole =
  | 'embed_tokens'
  | 'visual_embed'
  | 'llm'
  | 'lm_head'
  | 'depth_head'
  | 'code_embed'
  | 'unitok_encode'
  | 'unitok_decode';
/** config.json's format_version this engine reads (unitok/convert/bundle_config.py FORMAT_VERSION). */
export const FORMAT_VERSION = 3;
const ROLES: GraphRole[] = [
  'embed_tokens',
  'visual_embed',
  'llm',
  'lm_head',
  'depth_head',
  'code_embed',
  'unitok_encode',
  'unitok_decode',
];

export interface ChatTemplate {
  name: string;
  system: string;
  /** [user, assistant] role names as written in the prompt. */
  roles: [string, string];
  /** Written after a user turn (SeparatorStyle.TWO: sep) and after an assistant turn (sep2). */
  sep: string;
  sep2: string;
  imagePlaceholder: string;
}

export interface Bundle {
  dir: string;
  name: string;
  /** Positions one sequence can hold (prompt + generated), the size of each KV slot. */
  contextLength: number;
  vocabSize: number;
  special: { pad: number; bos: number; eos: number; boi: number; eoi: number };
  image: { size: number; grid: number; visualTokens: number; codesPerToken: number; codebookSize: number };
  chat: ChatTemplate;
  textToImage: { suffix: string; unconditional: string; appendIds: number[] };
  defaults: {
    text: { temperature: number; topK: number; topP: number; maxNewTokens: number };
    image: { guidanceScale: number; temperature: number; topK: number; topP: number; bestOf: number };
  };
  /** Absolute graph paths by role. */
  graphs: Record<GraphRole, string>;
  /** File time of config.json, in Unix seconds (the model's `created`). */
  created: number;
}

export class BundleError extends Error {
  override name = 'BundleError';
}

type Json = Record<string, unknown>;

/** Reads and checks `dir/config.json`; every error names the file and the field. */
export function readBundle(dir: string): Bundle {
  const path = join(dir, 'config.json');
  let raw: Json;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Json;
  } catch (err) {
    throw new BundleError(
      `${dir} is not a UniTok bundle: cannot read config.json (${(err as Error).message})`,
    );
  }
  const field = (obj: unknown, key: string, where: string): unknown => {
    const v = (obj as Json | undefined)?.[key];
    if (v === undefined) throw new BundleError(`${path}: missing ${where}${key}`);
    return v;
  };
  const num = (obj: unknown, key: string, where: string): number => {
    const v = field(obj, key, where);
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new BundleError(`${path}: ${where}${key} must be a number`);
    return v;
  };
  // Optional (bundles before it draw one candidate): sampling.image.best_of, an integer in 1..MAX_BEST_OF.
  const bestOf = (): number => {
    const v = (imageDefaults as Json).best_of ?? 1;
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_BEST_OF)
      throw new BundleError(`${path}: sampling.image.best_of must be an integer in 1..${MAX_BEST_OF}`);
    return v as number;
  };
  const str = (obj: unknown, key: string, where: string): string => {
    const v = field(obj, key, where);
    if (typeof v !== 'string') throw new BundleError(`${path}: ${where}${key} must be a string`);
    return v;
  };

  const older: Record<number, string> = {
    1: 'lm_head inside the llm graph',
    2: 'an llm graph with GroupQueryAttention present outputs',
  };
  if (raw.format === 'unitok-bundle' && typeof raw.format_version === 'number' && older[raw.format_version]) {
    const regraph =
      raw.format_version === 2
        ? `, or rewrite its graphs in place: python3 -m unitok regraph ${dirname(path)}`
        : '';
    throw new BundleError(
      `${path}: bundle format v${raw.format_version} (${older[raw.format_version]}) is no longer served; convert ` +
        `the checkpoint again with this version (python3 -m unitok convert ...), which writes v${FORMAT_VERSION}` +
        regraph,
    );
  }
  if (raw.format !== 'unitok-bundle' || raw.format_version !== FORMAT_VERSION) {
    throw new BundleError(`${path}: unsupported format ${String(raw.format)} v${String(raw.format_version)}`);
  }
  const llm = field(raw, 'llm', '');
  const image = field(raw, 'image', '');
  const special = field(raw, 'special_tokens', '');
  const chat = field(field(raw, 'prompts', ''), 'chat', 'prompts.');
  const t2i = field(field(raw, 'prompts', ''), 'text_to_image', 'prompts.');
  const sampling = field(raw, 'sampling', '');
  const textDefaults = field(sampling, 'text', 'sampling.');
  const imageDefaults = field(sampling, 'image', 'sampling.');
  const graphs = field(raw, 'graphs', '') as Json;
  if (field(sampling, 'rng', 'sampling.') !== 'mulberry32') {
    throw new BundleError(
      `${path}: sampling.rng must be mulberry32 (the only procedure this engine implements)`,
    );
  }
  const roles = field(chat, 'roles', 'prompts.chat.') as string[];
  const appendIds = field(t2i, 'append_ids', 'prompts.text_to_image.') as number[];
  if (!Array.isArray(roles) || roles.length !== 2)
    throw new BundleError(`${path}: prompts.chat.roles must be 2 names`);
  if (!Array.isArray(appendIds))
    throw new BundleError(`${path}: prompts.text_to_image.append_ids must be a list`);

  const codesPerToken = num(image, 'num_codebooks', 'image.');
  const codebookSize = num(image, 'codebook_size', 'image.');
  if (
    num(llm, 'num_codebooks', 'llm.') !== codesPerToken ||
    num(llm, 'codebook_size', 'llm.') !== codebookSize
  ) {
    throw new BundleError(`${path}: llm and image disagree on the codebooks`);
  }
  return {
    dir,
    name: str(llm, 'name', 'llm.'),
    contextLength: num(llm, 'max_position_embeddings', 'llm.'),
    vocabSize: num(llm, 'vocab_size', 'llm.'),
    special: {
      pad: num(special, 'pad', 'special_tokens.'),
      bos: num(special, 'bos', 'special_tokens.'),
      eos: num(special, 'eos', 'special_tokens.'),
      boi: num(special, 'boi', 'special_tokens.'),
      eoi: num(special, 'eoi', 'special_tokens.'),
    },
    image: {
      size: num(image, 'size', 'image.'),
      grid: num(image, 'grid', 'image.'),
      visualTokens: num(image, 'visual_tokens', 'image.'),
      codesPerToken,
      codebookSize,
    },
    chat: {
      name: str(chat, 'name', 'prompts.chat.'),
      system: str(chat, 'system', 'prompts.chat.'),
      roles: [roles[0], roles[1]],
      sep: str(chat, 'sep', 'prompts.chat.'),
      sep2: str(chat, 'sep2', 'prompts.chat.'),
      imagePlaceholder: str(chat, 'image_placeholder', 'prompts.chat.'),
    },
    textToImage: {
      suffix: str(t2i, 'suffix', 'prompts.text_to_image.'),
      unconditional: str(t2i, 'unconditional', 'prompts.text_to_image.'),
      appendIds,
    },
    defaults: {
      text: {
        temperature: num(textDefaults, 'temperature', 'sampling.text.'),
        topK: num(textDefaults, 'top_k', 'sampling.text.'),
        topP: num(textDefaults, 'top_p', 'sampling.text.'),
        maxNewTokens: num(textDefaults, 'max_new_tokens', 'sampling.text.'),
      },
      image: {
        guidanceScale: num(imageDefaults, 'cfg_scale', 'sampling.image.'),
        temperature: num(imageDefaults, 'temperature', 'sampling.image.'),
        topK: num(imageDefaults, 'top_k', 'sampling.image.'),
        topP: num(imageDefaults, 'top_p', 'sampling.image.'),
        bestOf: bestOf(),
      },
    },
    graphs: Object.fromEntries(ROLES.map((r) => [r, join(dir, str(graphs, r, 'graphs.'))])) as Record<
      GraphRole,
      string
    >,
    created: Math.floor(statSync(path).mtimeMs / 1000),
  };
}
