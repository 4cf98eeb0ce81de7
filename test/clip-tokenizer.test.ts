// The CLIP text tokenizer (src/tokenizer/clip-bpe.ts) against open_clip's ids (test/data/clip/tokenize-cases.json)
// and against its Python twin (unitok/clip_tokenizer.py) on seeded random strings (the `clip_tokenizer` fixtures).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLIP_MERGES_FILE, ClipBpeTokenizer, ClipTokenizerError } from '../src/tokenizer/clip-bpe.ts';
import { clean, htmlUnescape, preTokenize } from '../src/tokenizer/clip-text.ts';
import { fixturesDir } from './helpers/tensors.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const tok = ClipBpeTokenizer.load(join(root, 'assets', 'clip', CLIP_MERGES_FILE));
const cases = JSON.parse(readFileSync(join(root, 'test', 'data', 'clip', 'tokenize-cases.json'), 'utf8'))
  .cases as { text: string; ids: number[] }[];

describe('CLIP BPE tokenizer', () => {
  test('gives open_clip ids on every reference case', () => {
    assert.equal(cases.length, 23);
    for (const c of cases) assert.deepEqual(tok.tokenize(c.text), c.ids, JSON.stringify(c.text));
  });

  test('agrees with the Python twin on seeded random strings', () => {
    const fx = JSON.parse(readFileSync(join(fixturesDir('clip_tokenizer'), 'random.json'), 'utf8')) as {
      texts: string[];
      ids: number[][];
      context_length: number;
    };
    assert.ok(fx.texts.length >= 3000);
    const differ = fx.texts.filter((t, i) => tok.tokenize(t, fx.context_length).join() !== fx.ids[i].join());
    assert.deepEqual(differ.slice(0, 5), [], `${differ.length} of ${fx.texts.length} strings differ`);
  });

  test('special ids, padding-free rows and the cut with <end_of_text> last', () => {
    assert.equal(tok.vocabSize, 49408);
    assert.deepEqual(tok.tokenize(''), [49406, 49407]);
    assert.deepEqual(tok.encode('a photo of a cat.'), [320, 1125, 539, 320, 2368, 269]);
    const long = tok.tokenize('cat '.repeat(200), 16);
    assert.equal(long.length, 16);
    assert.equal(long[15], 49407);
    assert.throws(() => tok.tokenize('x', 1), ClipTokenizerError);
  });

  test('cleaning: Python html.unescape, the ftfy subset, whitespace and case', () => {
    assert.equal(
      htmlUnescape('&amp &ampx &notin; &notit; &#0; &#x80; &#1; &#xD800; &bogus;'),
      '& &x ∉ ¬it; \ufffd €  \ufffd &bogus;',
    );
    assert.equal(clean('  A\u0301 \u3000\tB\u0085'), '\u00e1 b\u2026'); // C1 U+0085 read as Windows-1252
    assert.equal(clean('\ufb01ne \uff21\uff22 it\u00e2\u0080\u0099s \u201cq\u201d'), 'fine ab it\'s "q"');
    assert.equal(clean('&amp;amp;lt;'), '<');
    assert.deepEqual(preTokenize("don't 12 ab!!<start_of_text> 'ſ"), [
      'don',
      "'t",
      '1',
      '2',
      'ab',
      '!!<',
      'start',
      '_',
      'of',
      '_',
      'text',
      '>',
      "'ſ",
    ]);
    assert.deepEqual(preTokenize('x<end_of_text>'), ['x', '<end_of_text>']);
  });

  test('a bad merges file is refused with its path', () => {
    assert.throws(
      () => ClipBpeTokenizer.load('/nonexistent/merges.txt.gz'),
      /cannot read the CLIP BPE merges file/,
    );
  });
});
