#!/usr/bin/env node
// Builds assets/llama2/tokenizer.json + tokenizer_config.json: the Llama-2 text tokenizer in the Hugging Face
// `tokenizers` format, from the vocabulary and merge ranks that llama-tokenizer-js embeds (no package here ships
// Llama-2's own tokenizer.json). The output is deterministic and committed, so the runtime needs no devDependency.
//
// llama-tokenizer-js's data format (see its data-conversion.py): two base64 string constants in llama-tokenizer.js,
//   llama_vocab_base64:  UTF-8 token strings joined by "\n"; line i is token id i;
//   llama_merges_binary: uint16 little-endian id pairs (left, right), one pair per merge, in rank order.
//
// usage: node --import tsx scripts/build-llama-tokenizer.mjs [--out DIR]   (default assets/llama2; `npm run
// build:llama-tokenizer`). tsx loads the text pipeline from the TypeScript module that implements it.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LLAMA_PIPELINE } from '../src/model/main-thread/text-tokenizer.ts';

const VOCAB_SIZE = 32000;
const SPECIALS = ['<unk>', '<s>', '</s>']; // ids 0, 1, 2
const FIRST_BYTE_ID = 3; // <0x00> .. <0xFF> are ids 3 .. 258

function embeddedConstant(source, name) {
  const m = new RegExp(`const ${name} = "([A-Za-z0-9+/=]*)"`).exec(source);
  if (!m)
    throw new Error(`llama-tokenizer-js: constant ${name} not found; has the package's data format changed?`);
  return Buffer.from(m[1], 'base64');
}

/** Reads and checks llama-tokenizer-js's vocabulary (index = id) and merges (index = rank). */
function readLlamaTokenizerJs() {
  const file = createRequire(import.meta.url).resolve('llama-tokenizer-js');
  const source = readFileSync(file, 'utf8');
  const vocab = embeddedConstant(source, 'llama_vocab_base64').toString('utf8').split('\n');
  if (vocab.length !== VOCAB_SIZE || new Set(vocab).size !== VOCAB_SIZE) {
    throw new Error(`${file}: expected ${VOCAB_SIZE} distinct tokens, got ${vocab.length}`);
  }
  SPECIALS.forEach((token, id) => {
    if (vocab[id] !== token) throw new Error(`${file}: id ${id} is ${vocab[id]}, expected ${token}`);
  });
  for (let b = 0; b < 256; b++) {
    const expected = `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    if (vocab[FIRST_BYTE_ID + b] !== expected)
      throw new Error(`${file}: id ${FIRST_BYTE_ID + b} is not ${expected}`);
  }

  const bin = embeddedConstant(source, 'llama_merges_binary');
  if (bin.length % 4 !== 0)
    throw new Error(`${file}: merge data is ${bin.length} bytes, not a multiple of 4`);
  const known = new Set(vocab);
  const merges = [];
  for (let off = 0; off < bin.length; off += 4) {
    const [left, right] = [vocab[bin.readUInt16LE(off)], vocab[bin.readUInt16LE(off + 2)]];
    // The "left right" string form is only unambiguous because no token contains a plain space.
    if (
      left === undefined ||
      right === undefined ||
      `${left}${right}`.includes(' ') ||
      !known.has(left + right)
    ) {
      throw new Error(`${file}: merge #${off / 4} is invalid`);
    }
    merges.push(`${left} ${right}`);
  }
  return { vocab, merges };
}

/** tokenizer.json, laid out like the one Hugging Face ships with Llama-2 (legacy SentencePiece emulation). */
function tokenizerJson({ vocab, merges }) {
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: LLAMA_PIPELINE.normalizer,
    pre_tokenizer: LLAMA_PIPELINE.pre_tokenizer,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [
        { SpecialToken: { id: '<s>', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '<s>', type_id: 1 } },
        { Sequence: { id: 'B', type_id: 1 } },
      ],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: LLAMA_PIPELINE.decoder,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      vocab: Object.fromEntries(vocab.map((token, id) => [token, id])),
      merges,
    },
  };
}

// Keys sorted as transformers' save_pretrained writes them. pad = unk as eval/liquid/train.py sets it; left padding
// as the text-to-image scripts batch prompts.
const TOKENIZER_CONFIG = {
  add_bos_token: true,
  add_eos_token: false,
  bos_token: '<s>',
  clean_up_tokenization_spaces: false,
  eos_token: '</s>',
  legacy: true,
  model_max_length: 4096,
  pad_token: '<unk>',
  padding_side: 'left',
  tokenizer_class: 'LlamaTokenizer',
  unk_token: '<unk>',
};

const serialize = (value) => `${JSON.stringify(value, null, 2)}\n`;

/** The two files' exact contents, by file name. */
export function buildLlamaTokenizerFiles() {
  return {
    'tokenizer.json': serialize(tokenizerJson(readLlamaTokenizerJs())),
    'tokenizer_config.json': serialize(TOKENIZER_CONFIG),
  };
}

function main(argv) {
  const i = argv.indexOf('--out');
  if (i >= 0 && !argv[i + 1]) throw new Error('--out needs a directory');
  const out = i >= 0 ? argv[i + 1] : fileURLToPath(new URL('../assets/llama2', import.meta.url));
  mkdirSync(out, { recursive: true });
  for (const [name, text] of Object.entries(buildLlamaTokenizerFiles())) {
    writeFileSync(join(out, name), text);
    console.log(`wrote ${join(out, name)} (${Buffer.byteLength(text)} bytes)`);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
