// The understanding side end to end: the real engine and server, through the official `openai` client where it
// applies. A bundle converted from a released-layout checkpoint with open_clip's text vocabulary (fixtures `clip`)
// must give PyTorch's embeddings (encode_text / encode_image, normalize=True) within 1e-4; the committed default
// model (models/demo) must tokenise as its Python side does and classify its held-out images; models/tiny, whose
// text tower has no known tokenizer, must refuse text by name.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { InvalidRequestError } from '../src/model/engine-types.ts';
import { startEngine, type UniTokEngine } from '../src/model/main-thread/engine.ts';
import type {
  CreateEmbeddingResponse,
  ImageDetokenizeResponse,
  ImageTokenizeResponse,
  ZeroShotImageClassificationResponse,
} from '../src/server/api-types.generated.ts';
import { buildServer } from '../src/server/app.ts';
import { loadClipTextTokenizer } from '../src/tokenizer/clip-text-tokenizer.ts';
import { UniTokTokenizer } from '../src/tokenizer/unitok.ts';
import { dataUrl } from './helpers/png.ts';
import { assertError, listen } from './helpers/server.ts';
import { fixturesDir } from './helpers/tensors.ts';

interface Reference {
  texts: string[];
  ids: number[][];
  text_embeds: number[][];
  images: string[];
  image_codes: number[][][];
  image_embeds: number[][];
  logit_scale: number;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
};
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i], 0);
const signal = () => new AbortController().signal;
const concat = (rows: Int32Array[]) => {
  const out = new Int32Array(rows.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of rows) {
    out.set(r, at);
    at += r.length;
  }
  return out;
};

/** A real engine behind the real server on 127.0.0.1, for the enclosing describe(). */
function useEngineServer(model: string) {
  const holder = {} as { engine: UniTokEngine; app: FastifyInstance; url: string };
  before(async () => {
    holder.engine = await startEngine({ model, device: 'cpu', maxQueue: 16, maxBatch: 2 });
    await holder.engine.loaded;
    assert.equal(holder.engine.info().status, 'ready', holder.engine.info().statusMessage);
    holder.app = buildServer({ engine: holder.engine, logger: false });
    holder.url = await listen(holder.app);
  });
  after(async () => {
    await holder.app?.close();
    await holder.engine?.close();
  });
  return holder;
}

const post = async (url: string, body: object) => {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as unknown };
};

describe('a bundle converted from a released-layout checkpoint (open_clip BPE text tower)', {
  timeout: 120_000,
}, () => {
  const dir = fixturesDir('clip');
  const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as Reference;
  const images = ref.images.map((f) => readFileSync(join(dir, 'images', f)));
  // Rows are tokenize()'s, cut at 77: a full row is a text past the context.
  const fits = ref.texts.map((_, i) => i).filter((i) => ref.ids[i].length < 77);
  const s = useEngineServer(join(dir, 'bundle'));
  const client = () => new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 30_000 });

  test('openai embeddings.create: text embeddings match PyTorch within 1e-4 (base64 and float)', async () => {
    const input = fits.map((i) => ref.texts[i]);
    for (const encoding_format of [undefined, 'float'] as const) {
      const res = await client().embeddings.create({
        model: 'unitok_mllm_random_tiny',
        input,
        encoding_format,
      });
      assert.equal(res.data.length, input.length);
      res.data.forEach((d, k) => {
        const diff = maxDiff(d.embedding, ref.text_embeds[fits[k]]);
        assert.ok(diff < 1e-4, `${JSON.stringify(input[k])}: max |diff| ${diff}`);
      });
      const tokens = fits.reduce((n, i) => n + ref.ids[i].length, 0);
      assert.equal(res.usage.prompt_tokens, tokens, 'start and end of text included');
    }
  });

  test('texts and images in one request: each kind in one graph run, images match PyTorch within 1e-4', async () => {
    const before = s.engine.stats().clipRuns ?? { text: 0, image: 0 };
    const input = [
      ref.texts[0],
      ...images.map((png) => ({ type: 'image_url', image_url: { url: dataUrl(png) } })),
      ref.texts[1],
    ];
    const res = await post(`${s.url}/v1/embeddings`, { input });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const data = (res.body as CreateEmbeddingResponse).data.map((d) => d.embedding as number[]);
    assert.ok(maxDiff(data[0], ref.text_embeds[0]) < 1e-4);
    assert.ok(maxDiff(data[input.length - 1], ref.text_embeds[1]) < 1e-4);
    images.forEach((_, i) => {
      const diff = maxDiff(data[1 + i], ref.image_embeds[i]);
      assert.ok(diff < 1e-4, `image ${i}: max |diff| ${diff}`);
    });
    const now = s.engine.stats().clipRuns;
    assert.deepEqual(now, { text: before.text + 1, image: before.image + 1 });
  });

  test('a text past the 77-id context is refused, not cut', async () => {
    const long = ref.texts.findIndex((_, i) => ref.ids[i].length === 77);
    assertError(await post(`${s.url}/v1/embeddings`, { input: ['fine', ref.texts[long]] }), 400, {
      param: 'input[1]',
      code: 'context_length_exceeded',
    });
  });

  test('zero-shot scores are the softmax of logit_scale x cosine similarity', async () => {
    const labels = fits.map((i) => ref.texts[i]).filter((t) => t !== '');
    const res = await post(`${s.url}/v1/zero-shot-image-classification`, {
      image: dataUrl(images[0]),
      candidate_labels: labels,
      hypothesis_template: '{}',
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const logits = labels.map(
      (t) => ref.logit_scale * dot(ref.image_embeds[0], ref.text_embeds[ref.texts.indexOf(t)]),
    );
    const z = logits.map((l) => Math.exp(l - Math.max(...logits)));
    const expected = new Map(labels.map((t, j) => [t, z[j] / z.reduce((a, b) => a + b, 0)]));
    const got = (res.body as ZeroShotImageClassificationResponse).data;
    assert.equal(got.length, labels.length);
    for (const { label, score } of got)
      assert.ok(Math.abs(score - (expected.get(label) as number)) < 1e-4, label);
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1].score >= got[i].score, 'sorted');
  });

  test('tokenize / detokenize equal the TypeScript image tokenizer (and PyTorch codes)', async () => {
    const tok = await UniTokTokenizer.load(join(dir, 'bundle'), { graphs: ['encode', 'decode'] });
    try {
      for (const [i, png] of images.entries()) {
        const res = await post(`${s.url}/v1/images/tokenize`, { image: dataUrl(png) });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        const body = res.body as ImageTokenizeResponse;
        const codes = await tok.encode([png]);
        const { numCodebooks: K, numTokens: N } = codes;
        assert.deepEqual(body.shape, [K, N]);
        assert.deepEqual(
          body.codes,
          Array.from({ length: K }, (_, k) => Array.from(codes.data.subarray(k * N, (k + 1) * N))),
        );
        assert.deepEqual(body.codes, ref.image_codes[i]);
        const back = await post(`${s.url}/v1/images/detokenize`, { codes: body.codes });
        assert.equal(back.status, 200, JSON.stringify(back.body));
        const [expected] = await tok.decodeToPng(codes);
        assert.ok(Buffer.from((back.body as ImageDetokenizeResponse).b64_json, 'base64').equals(expected));
      }
      const bad = ref.image_codes[0].map((row) => [...row]);
      bad[3][2] = 64;
      assertError(await post(`${s.url}/v1/images/detokenize`, { codes: bad }), 400, { param: 'codes[3][2]' });
    } finally {
      await tok.release();
    }
  });
});

describe('models/tiny: a text tower with no known tokenizer', { timeout: 60_000 }, () => {
  let engine: UniTokEngine;
  before(async () => {
    engine = await startEngine({ model: 'models/tiny', device: 'cpu', maxQueue: 4, maxBatch: 2 });
    await engine.loaded;
  });
  after(() => engine.close());

  test('text inputs are refused by name with the reason; images still embed', async () => {
    assert.equal(engine.info().understanding.textTokenizer, null);
    const png = readFileSync(join(fixturesDir('clip'), 'images', 'image_0.png'));
    await assert.rejects(
      engine.embed({
        id: 't',
        signal: signal(),
        param: 'input',
        inputs: [
          { type: 'image', data: png },
          { type: 'text', text: 'a cat' },
        ],
      }),
      (err) =>
        err instanceof InvalidRequestError &&
        err.param === 'input[1]' &&
        err.code === 'text_input_unsupported' &&
        /1000 ids, not CLIP BPE's 49408/.test(err.message),
    );
    const ok = await engine.embed({
      id: 'i',
      signal: signal(),
      param: 'input',
      inputs: [{ type: 'image', data: png }],
    });
    assert.equal(ok.embeddings[0].length, engine.info().understanding.embeddingDim);
  });

  test('best_of above 1 is refused by name: drawings are judged by the text tower it cannot use', async () => {
    await assert.rejects(
      engine.submitImage({
        id: 'b',
        signal: signal(),
        prompt: 'x',
        n: 1,
        sampling: { bestOf: 2 },
        previewAt: [],
      }),
      (err) =>
        err instanceof InvalidRequestError && err.param === 'best_of' && err.code === 'best_of_unsupported',
    );
  });
});

describe('models/demo: zero-shot on held-out images through the server', { timeout: 120_000 }, () => {
  interface Sample {
    clip: Record<'shape' | 'color', { labels: string[]; ids: number[][]; template: string }>;
    scenes: { file: string; shapes: { shape: string; color: string }[] }[];
  }
  const sample = JSON.parse(readFileSync('test/data/demo/heldout.json', 'utf8')) as Sample;
  const singles = sample.scenes.filter((sc) => sc.shapes.length === 1);
  const s = useEngineServer('models/demo');

  test("the text tokenizer the bundle declares gives the ids the demo's Python tokenizer gave", () => {
    const { config, clip } = UniTokTokenizer.readManifest('models/demo');
    const declared = loadClipTextTokenizer('models/demo', clip);
    assert.ok(declared.tokenizer, 'the default model declares a CLIP text tokenizer');
    for (const kind of ['shape', 'color'] as const) {
      const { template } = sample.clip[kind];
      sample.clip[kind].labels.forEach((label, j) => {
        const row = declared.tokenizer.tokenize(template.replace('{}', label), config.text_context_length);
        assert.deepEqual(row, sample.clip[kind].ids[j].slice(0, row.length));
        assert.ok(sample.clip[kind].ids[j].slice(row.length).every((id) => id === 0));
      });
    }
  });

  test('colour accuracy of the one-shape held-out scenes', async () => {
    assert.notEqual(s.engine.info().understanding.textTokenizer, null);
    const hits = await Promise.all(
      singles.map(async (scene) => {
        const res = await post(`${s.url}/v1/zero-shot-image-classification`, {
          image: dataUrl(readFileSync(join('test/data/demo', scene.file))),
          candidate_labels: sample.clip.color.labels,
          hypothesis_template: sample.clip.color.template,
        });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        return (res.body as ZeroShotImageClassificationResponse).data[0].label === scene.shapes[0].color;
      }),
    );
    const accuracy = hits.filter(Boolean).length / hits.length;
    assert.ok(accuracy >= 0.8, `zero-shot colour accuracy ${accuracy} on ${hits.length} images`);
  });

  test('best_of: each image is the candidate nearest the prompt in CLIP space, candidates seeded seed + i * best_of + j', async () => {
    const prompt = 'a large blue square in the center';
    const { visualTokens: N, codesPerToken: K } = s.engine.info().image;
    const draw = async (n: number, seed: number, bestOf: number) => {
      const stream = await s.engine.submitImage({
        id: 'best',
        signal: signal(),
        prompt,
        n,
        sampling: { seed, bestOf },
        previewAt: [],
      });
      const grids = Array.from({ length: n }, () => new Int32Array(K * N));
      const order: number[][] = Array.from({ length: n }, () => []);
      for await (const e of stream) {
        if (e.type !== 'codes') continue;
        order[e.image].push(e.index);
        e.codes.forEach((c, k) => {
          grids[e.image][k * N + e.index] = c;
        });
      }
      for (const o of order) assert.deepEqual(o, [...Array(N).keys()], 'every visual token once, in order');
      return grids;
    };
    const alone = await draw(4, 100, 1); // seeds 100..103, one candidate each
    const best = await draw(2, 100, 2); // image 0 of seeds 100 and 101, image 1 of 102 and 103

    const { config, clip } = UniTokTokenizer.readManifest('models/demo');
    const { tokenizer } = loadClipTextTokenizer('models/demo', clip);
    assert.ok(tokenizer);
    const clipSide = await UniTokTokenizer.load('models/demo', { graphs: ['clip_image', 'clip_text'] });
    const ids = new BigInt64Array(config.text_context_length);
    tokenizer.tokenize(prompt, config.text_context_length).forEach((id, i) => {
      ids[i] = BigInt(id);
    });
    const text = await clipSide.textEmbeddings(ids, 1);
    const images = await clipSide.imageEmbeddings({
      data: concat(alone),
      batch: 4,
      numCodebooks: K,
      numTokens: N,
    });
    await clipSide.release();
    const E = text.length;
    const scores = alone.map((_, j) => dot([...images.subarray(j * E, (j + 1) * E)], [...text]));
    for (const i of [0, 1]) {
      const pair = [scores[2 * i], scores[2 * i + 1]];
      assert.notEqual(pair[0], pair[1]);
      assert.deepEqual(best[i], alone[2 * i + (pair[1] > pair[0] ? 1 : 0)], `image ${i}: scores ${pair}`);
    }
  });

  test('best_of over HTTP: out of range or beside previews is refused by name', async () => {
    for (const body of [
      { prompt: 'a red circle', best_of: 17 },
      { prompt: 'a red circle', best_of: 2, stream: true, partial_images: 1 },
    ]) {
      const res = await post(`${s.url}/v1/images/generations`, body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal((res.body as { error: { param: string } }).error.param, 'best_of');
    }
    const model = (await fetch(`${s.url}/v1/models/${s.engine.info().id}`).then((r) => r.json())) as {
      defaults: { image: { best_of: number } };
    };
    assert.equal(model.defaults.image.best_of, 4);
  });
});
