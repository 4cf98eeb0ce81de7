// The Llama-2 text tokenizer (src/model/main-thread/text-tokenizer.ts) against three independent references:
// llama-tokenizer-js's own BPE encoder, @huggingface/tokenizers' decoder, and the pure-Python twin
// (unitok/text_tokenizer.py, through the `text_tokenizer` fixtures).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import llamaJs from 'llama-tokenizer-js';
import { LlamaTokenizer, type PromptSegment, SPECIAL_IDS } from '../src/model/main-thread/text-tokenizer.ts';
import { fixturesDir } from './helpers/tensors.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const assetsDir = join(root, 'assets', 'llama2');
const cases = JSON.parse(readFileSync(join(root, 'test', 'data', 'text-tokenizer-cases.json'), 'utf8')) as {
  texts: string[];
  prompts: string[];
  decode: number[][];
};
const tok = LlamaTokenizer.load(assetsDir);
const hf = new Tokenizer(
  JSON.parse(readFileSync(join(assetsDir, 'tokenizer.json'), 'utf8')),
  JSON.parse(readFileSync(join(assetsDir, 'tokenizer_config.json'), 'utf8')),
);

const SPECIAL_STRING = /<unk>|<\/?s>/;
// llama-tokenizer-js knows no special tokens and returns [] for '' even with BOS; both cases are tested apart.
const plainTexts = cases.texts.filter((t) => t !== '' && !SPECIAL_STRING.test(t));

/** Seeded random strings over pieces that make BPE ties, byte fallback and spaces interact. */
function randomTexts(count: number, seed = 7): string[] {
  const pieces = [
    'a',
    'e',
    'r',
    't',
    'h',
    'in',
    'ing',
    'the ',
    ' ',
    '  ',
    '\n',
    '.',
    '0',
    '9',
    'é',
    '丂',
    '中',
    '😀',
    '𠀀',
  ];
  let s = seed;
  const next = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * n);
  };
  return Array.from({ length: count }, () =>
    Array.from({ length: 1 + next(30) }, () => pieces[next(pieces.length)]).join(''),
  );
}

function streamed(ids: number[], skipSpecialTokens: boolean): string[] {
  const stream = tok.decodeStream({ skipSpecialTokens });
  return [...ids.map((id) => stream.push(id)), stream.end()];
}

describe('Llama-2 tokenizer: encoding', () => {
  test('known ids: "Hello world!", "▁the" = 278, boi/eoi are the bytes 0x00/0x01', () => {
    assert.deepEqual(tok.encode('Hello world!'), [1, 15043, 3186, 29991]);
    assert.deepEqual(tok.encode('the', { addBos: false }), [278]);
    assert.deepEqual(tok.encode('\x00\x01', { addBos: false }), [29871, SPECIAL_IDS.boi, SPECIAL_IDS.eoi]);
    assert.equal(tok.vocabSize, 32000);
  });

  test('matches llama-tokenizer-js with and without BOS (shared cases + seeded random strings)', () => {
    for (const text of [...plainTexts, ...randomTexts(300)]) {
      assert.deepEqual(tok.encode(text), llamaJs.encode(text, true, true), JSON.stringify(text));
      assert.deepEqual(
        tok.encode(text, { addBos: false }),
        llamaJs.encode(text, false, true),
        JSON.stringify(text),
      );
    }
  });

  test('empty text is BOS alone (as transformers), not [] as llama-tokenizer-js returns', () => {
    assert.deepEqual(tok.encode(''), [SPECIAL_IDS.bos]);
    assert.deepEqual(tok.encode('', { addBos: false }), []);
  });

  test('special-token strings become their ids and the text after them gets a dummy prefix (legacy)', () => {
    const plain = (t: string) => llamaJs.encode(t, false, true);
    assert.deepEqual(tok.encode('a</s>USER: hi'), [1, ...plain('a'), SPECIAL_IDS.eos, ...plain('USER: hi')]);
    assert.deepEqual(tok.encode('<s><s>', { addBos: false }), [SPECIAL_IDS.bos, SPECIAL_IDS.bos]);
    assert.deepEqual(tok.encode('x<unk>y', { addBos: false }), [
      ...plain('x'),
      SPECIAL_IDS.unk,
      ...plain('y'),
    ]);
    // Near misses stay text.
    assert.deepEqual(tok.encode('<s >', { addBos: false }), plain('<s >'));
  });

  test('bad input is refused with a clear error', () => {
    assert.throws(() => tok.encode(42 as unknown as string), /text must be a string/);
    assert.throws(() => tok.encode('a\ud800b'), /lone UTF-16 surrogate/);
  });
});

describe('Llama-2 tokenizer: decoding', () => {
  const idLists = [...cases.texts.map((t) => tok.encode(t)), ...cases.decode];

  test('round trip: decode(encode(text)) gives the text back (no "▁" or special-token strings in it)', () => {
    for (const text of plainTexts.filter((t) => !t.includes('\u2581'))) {
      assert.equal(tok.decode(tok.encode(text), { skipSpecialTokens: true }), text);
      assert.equal(tok.decode(tok.encode(text, { addBos: false })), text);
    }
  });

  test('agrees with the @huggingface/tokenizers decoder (except a U+FEFF starting a byte run)', () => {
    const startsBomRun = (ids: number[]) => ids.some((id, i) => id === 0xef + 3 && ids[i + 1] === 0xbb + 3);
    for (const ids of idLists.filter((l) => l.length > 0 && !startsBomRun(l))) {
      for (const skip of [false, true]) {
        const expected = hf.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
        assert.equal(tok.decode(ids, { skipSpecialTokens: skip }), expected, JSON.stringify(ids));
      }
    }
    // The package's TextDecoder eats a BOM at the start of each byte run (so the space of "▁Hello" then leads and is
    // stripped); the Rust tokenizers and sentencepiece keep it.
    const bom = [0xef + 3, 0xbb + 3, 0xbf + 3, 15043];
    assert.equal(tok.decode(bom), '\ufeff Hello');
    assert.equal(hf.decode(bom, { clean_up_tokenization_spaces: false }), 'Hello');
  });

  test('skipSpecialTokens drops <unk>/<s>/</s> only; the first space is stripped once', () => {
    assert.equal(tok.decode([1, 15043, 2, 3186]), '<s> Hello</s> world');
    assert.equal(tok.decode([1, 15043, 2, 3186], { skipSpecialTokens: true }), 'Hello world');
    assert.equal(tok.decode([29871, 29871]), ' ');
    assert.equal(tok.decode([]), '');
  });

  test('invalid or unfinished UTF-8 from byte tokens decodes to U+FFFD', () => {
    assert.equal(tok.decode([0xe4 + 3, 0xb8 + 3]), '\ufffd'); // first two bytes of 中
    assert.equal(tok.decode([0xe4 + 3, 0xb8 + 3, 0xad + 3]), '中');
    assert.equal(tok.decode([0x80 + 3]), '\ufffd');
  });

  test('bad ids are refused with a clear error', () => {
    for (const bad of [-1, 32000, 1.5, Number.NaN])
      assert.throws(() => tok.decode([bad]), /not an integer in \[0, 32000\)/);
    assert.throws(() => tok.decode('12' as unknown as number[]), /must be an array/);
    assert.throws(() => tok.decodeStream().push(32000), /not an integer/);
  });

  test('streaming: deltas concatenate to the full decode, and hold split characters back', () => {
    for (const ids of idLists) {
      for (const skip of [false, true]) {
        assert.equal(
          streamed(ids, skip).join(''),
          tok.decode(ids, { skipSpecialTokens: skip }),
          JSON.stringify(ids),
        );
      }
    }
    for (const text of plainTexts) {
      for (const delta of streamed(tok.encode(text), true))
        assert.ok(!delta.includes('\ufffd'), JSON.stringify(text));
    }
    // "▁😀" is "▁" then four byte tokens: nothing shows until the fourth; the dummy-prefix space never shows.
    assert.deepEqual(streamed(tok.encode('😀'), true), ['', '', '', '', '', '😀', '']);
    assert.deepEqual(streamed(tok.encode(' a b'), true), ['', '', ' a', ' b', '']);
  });

  test('a stream that ends inside a character flushes U+FFFD, like decode', () => {
    assert.deepEqual(streamed([15043, 0xf0 + 3, 0x9f + 3], false), ['Hello', '', '', '\ufffd']);
  });
});

describe('Llama-2 tokenizer: prompts with <image> (tokenizer_image_token)', () => {
  const plain = (t: string) => tok.encode(t, { addBos: false });

  test('vicuna prompt: BOS + system/USER text, the image, then "\\n{question}" with its own dummy prefix', () => {
    const head = 'A chat between a curious user and an artificial intelligence assistant. USER: ';
    const tail = '\nWhat is this? ASSISTANT:';
    const segments = tok.encodePrompt(`${head}<image>${tail}`);
    assert.deepEqual(segments, [
      { type: 'text', ids: tok.encode(head) },
      { type: 'image' },
      { type: 'text', ids: plain(tail) },
    ]);
    // The chunk starts with "▁" (29871) then "\n" (<0x0A> = 13): not what encoding the whole prompt would give.
    assert.deepEqual((segments[2] as { ids: number[] }).ids.slice(0, 2), [29871, 13]);
  });

  test('empty chunks leave no text segment; only the first chunk has BOS', () => {
    const image: PromptSegment = { type: 'image' };
    assert.deepEqual(tok.encodePrompt('<image>'), [{ type: 'text', ids: [SPECIAL_IDS.bos] }, image]);
    assert.deepEqual(tok.encodePrompt('<image><image>x'), [
      { type: 'text', ids: [SPECIAL_IDS.bos] },
      image,
      image,
      { type: 'text', ids: plain('x') },
    ]);
    assert.deepEqual(tok.encodePrompt('no image'), [{ type: 'text', ids: tok.encode('no image') }]);
    assert.deepEqual(tok.encodePrompt(''), [{ type: 'text', ids: [SPECIAL_IDS.bos] }]);
  });

  test('bad input is refused', () => {
    assert.throws(() => tok.encodePrompt(undefined as unknown as string), /prompt must be a string/);
  });
});

describe('Llama-2 tokenizer: parity with unitok/text_tokenizer.py (fixtures)', () => {
  const fx = JSON.parse(readFileSync(join(fixturesDir('text_tokenizer'), 'encodings.json'), 'utf8')) as {
    texts: {
      text: string;
      ids: number[];
      ids_no_bos: number[];
      decode: string;
      decode_skip_special: string;
    }[];
    prompts: { prompt: string; segments: PromptSegment[] }[];
    decode: { ids: number[]; decode: string; decode_skip_special: string }[];
  };

  test('the fixtures cover the current case file', () => {
    assert.deepEqual(
      fx.texts.map((t) => t.text),
      cases.texts,
    );
    assert.deepEqual(
      fx.prompts.map((p) => p.prompt),
      cases.prompts,
    );
  });

  test('same ids and text for every case', () => {
    for (const c of fx.texts) {
      assert.deepEqual(tok.encode(c.text), c.ids, JSON.stringify(c.text));
      assert.deepEqual(tok.encode(c.text, { addBos: false }), c.ids_no_bos, JSON.stringify(c.text));
    }
    for (const c of [...fx.texts, ...fx.decode]) {
      assert.equal(tok.decode(c.ids), c.decode, JSON.stringify(c.ids));
      assert.equal(
        tok.decode(c.ids, { skipSpecialTokens: true }),
        c.decode_skip_special,
        JSON.stringify(c.ids),
      );
    }
    for (const c of fx.prompts)
      assert.deepEqual(tok.encodePrompt(c.prompt), c.segments, JSON.stringify(c.prompt));
  });
});

describe('Llama-2 tokenizer: assets', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'llama-tok-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  test('rebuilding from llama-tokenizer-js gives byte-identical files', () => {
    const out = join(scratch, 'rebuilt');
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(root, 'scripts', 'build-llama-tokenizer.mjs'), '--out', out],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, r.stderr);
    for (const name of ['tokenizer.json', 'tokenizer_config.json']) {
      assert.ok(readFileSync(join(out, name)).equals(readFileSync(join(assetsDir, name))), `${name} differs`);
    }
  });

  test('load refuses a missing folder or a tokenizer.json with another pipeline', () => {
    assert.throws(() => LlamaTokenizer.load(join(scratch, 'nowhere')), /cannot read .*tokenizer\.json/);
    const json = JSON.parse(readFileSync(join(assetsDir, 'tokenizer.json'), 'utf8'));
    json.decoder = { type: 'Metaspace', replacement: '\u2581' };
    writeFileSync(join(scratch, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(
      join(scratch, 'tokenizer_config.json'),
      readFileSync(join(assetsDir, 'tokenizer_config.json')),
    );
    assert.throws(() => LlamaTokenizer.load(scratch), /decoder is not the Llama SentencePiece one/);
  });
});
