// The committed default model, models/demo, checked for meaning on held-out data of its synthetic world.
//
// test/data/demo is a held-out sample written by `python3 -m unitok make-world --out test/data/demo --count 16
// --t2i 12 --no-sheet`: PNG scenes with their exact questions and answers, one-shape text-to-image prompts, the
// palette the oracle needs, and the CLIP zero-shot prompts in the text tower's word ids. Everything runs through the
// bundle's ONNX graphs: the tokenizer graphs directly, VQA and text-to-image through the whole engine.
//
// Thresholds sit a little below the targets the full held-out evaluation meets (MODEL_CARD.md; `python3 -m unitok
// evaluate`), because this is a reduced sample: a model that does not see, answer or draw fails them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import sharp from 'sharp';
import { createEngine, type UniTokEngine } from '../src/model/main-thread/engine.ts';
import { UniTokTokenizer } from '../src/tokenizer/unitok.ts';

const MODEL = 'models/demo';
const DATA = 'test/data/demo';

interface Scene {
  file: string;
  background: string;
  shapes: { shape: string; color: string; position: string }[];
  qa: { kind: string; question: string; answer: string }[];
}
interface Sample {
  image_size: number;
  oracle: {
    colors: Record<string, number[]>;
    backgrounds: Record<string, number[]>;
    positions: string[];
    min_color_area: number;
  };
  clip: Record<'shape' | 'color', { labels: string[]; ids: number[][] }>;
  scenes: Scene[];
  t2i: { prompt: string; color: string; position: string; shape: string }[];
}

const sample = JSON.parse(readFileSync(join(DATA, 'heldout.json'), 'utf8')) as Sample;
const png = (scene: Scene) => readFileSync(join(DATA, scene.file));
const mean = (xs: boolean[]) => xs.filter(Boolean).length / xs.length;

async function rgb(image: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(image).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** unitok/demo/world.py judge_single: nearest palette colour per pixel; the named colour must cover a shape-sized
 * area, and its centroid must lie in the named cell of the 3 x 3 grid. */
function judge(
  img: { data: Buffer; width: number; height: number },
  color: string,
  position: string,
): boolean {
  const { colors, backgrounds, positions, min_color_area } = sample.oracle;
  const palette = [
    ...Object.entries(colors).map(([k, v]) => [`shape:${k}`, v] as const),
    ...Object.entries(backgrounds).map(([k, v]) => [`bg:${k}`, v] as const),
  ];
  const want = palette.findIndex(([k]) => k === `shape:${color}`);
  let area = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const o = 3 * (y * img.width + x);
      let best = 0;
      let bestD = Number.POSITIVE_INFINITY;
      palette.forEach(([, c], i) => {
        const d = (img.data[o] - c[0]) ** 2 + (img.data[o + 1] - c[1]) ** 2 + (img.data[o + 2] - c[2]) ** 2;
        if (d < bestD) [best, bestD] = [i, d];
      });
      if (best === want) [area, sx, sy] = [area + 1, sx + x, sy + y];
    }
  }
  if (area < min_color_area) return false;
  const col = Math.min(Math.floor(((sx / area) * 3) / img.width), 2);
  const row = Math.min(Math.floor(((sy / area) * 3) / img.height), 2);
  return positions[row * 3 + col] === position;
}

test('the oracle passes the held-out images themselves', async () => {
  for (const scene of sample.scenes.filter((s) => s.shapes.length === 1)) {
    const [s] = scene.shapes;
    const img = await rgb(png(scene));
    assert.ok(judge(img, s.color, s.position), scene.file);
    assert.ok(
      !judge(img, s.color, s.position === 'center' ? 'top left' : 'center'),
      `${scene.file}: wrong cell`,
    );
  }
});

describe('tokenizer graphs', () => {
  let tok: UniTokTokenizer;
  before(async () => {
    tok = await UniTokTokenizer.load(MODEL);
  });
  after(() => tok.release());

  test('reconstruction PSNR of held-out images', async () => {
    const images = sample.scenes.map(png);
    const codes = await tok.encode(images);
    const decoded = await tok.decodeToPng(codes);
    let se = 0;
    let n = 0;
    for (let i = 0; i < images.length; i++) {
      const [a, b] = [await rgb(images[i]), await rgb(decoded[i])];
      for (let j = 0; j < a.data.length; j++) se += (a.data[j] - b.data[j]) ** 2;
      n += a.data.length;
    }
    const psnr = 10 * Math.log10((255 * 255) / (se / n));
    assert.ok(psnr >= 27, `PSNR ${psnr.toFixed(2)} dB`);
  });

  /** Zero-shot accuracy of the CLIP side on the sample's one-shape scenes: image embedding vs "a {label}" texts. */
  async function zeroShot(kind: 'shape' | 'color'): Promise<number> {
    const singles = sample.scenes.filter((s) => s.shapes.length === 1);
    const img = await tok.imageEmbeddings(await tok.encode(singles.map(png)));
    const D = img.length / singles.length;
    const { labels, ids } = sample.clip[kind];
    const txt = await tok.textEmbeddings(BigInt64Array.from(ids.flat(), BigInt), ids.length);
    const hits = singles.map((scene, i) => {
      const scores = labels.map((_, j) => {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += img[i * D + d] * txt[j * D + d];
        return dot;
      });
      return labels[scores.indexOf(Math.max(...scores))] === scene.shapes[0][kind];
    });
    return mean(hits);
  }

  test('zero-shot colour from the CLIP side', async () => {
    const accuracy = await zeroShot('color');
    assert.ok(accuracy >= 0.8, `zero-shot colour accuracy ${accuracy}`);
  });

  // Issue 5 sets no target here: run and reported, not gating.
  test('zero-shot shape from the CLIP side', {
    todo: "the demo tokenizer's CLIP side has not learnt shapes (MODEL_CARD.md)",
  }, async () => {
    const accuracy = await zeroShot('shape');
    assert.ok(accuracy >= 0.6, `zero-shot shape accuracy ${accuracy}`);
  });
});

describe('engine', () => {
  let engine: UniTokEngine;
  before(async () => {
    engine = (await createEngine({
      model: MODEL,
      device: 'cpu',
      maxQueue: 512,
      maxBatch: 16,
    })) as UniTokEngine;
    await engine.loaded;
    assert.equal(engine.info().status, 'ready', engine.info().statusMessage);
  });
  after(() => engine.close());

  /** Greedy answers to every non-caption question of the sample, asked once for the VQA tests below. */
  let vqa: Promise<{ item: Scene['qa'][number] & { scene: Scene }; ok: boolean; got: string }[]> | undefined;
  const askAll = () => {
    vqa ??= (async () => {
      const items = sample.scenes.flatMap((scene) =>
        scene.qa.filter((q) => q.kind !== 'caption').map((q) => ({ scene, ...q })),
      );
      const answers = await Promise.all(
        items.map(async (item, i) => {
          const stream = await engine.submitChat({
            id: `vqa-${i}`,
            n: 1,
            signal: new AbortController().signal,
            messages: [
              {
                role: 'user',
                content: [
                  { type: 'image', data: png(item.scene) },
                  { type: 'text', text: item.question },
                ],
              },
            ],
            sampling: { temperature: 0, topK: 0, topP: 1, seed: 0 },
            maxTokens: 16,
            stop: [],
          });
          let text = '';
          for await (const e of stream) if (e.type === 'text') text += e.text;
          return text.trim().toLowerCase();
        }),
      );
      return items.map((item, i) => ({ item, ok: answers[i] === item.answer, got: answers[i] }));
    })();
    return vqa;
  };
  type Answered = Awaited<ReturnType<typeof askAll>>;
  const colourShape = (rows: Answered) =>
    rows.filter((r) => r.item.kind === 'color' || r.item.kind === 'shape');
  /** The demo's VQA bar: colour/shape exact match >= 0.85 and all kinds >= 0.6, naming the first wrong answers. */
  const assertAnswers = (t: TestContext, rows: Answered) => {
    const wrong = rows
      .filter((r) => !r.ok)
      .slice(0, 8)
      .map((r) => `${r.item.question} -> '${r.got}' (want '${r.item.answer}')`)
      .join('; ');
    const core = mean(colourShape(rows).map((r) => r.ok));
    t.diagnostic(
      `colour/shape ${core.toFixed(3)} of ${colourShape(rows).length}, all kinds ` +
        `${mean(rows.map((r) => r.ok)).toFixed(3)} of ${rows.length}`,
    );
    assert.ok(core >= 0.85, `colour/shape exact match ${core}: ${wrong}`);
    assert.ok(
      mean(rows.map((r) => r.ok)) >= 0.6,
      `all kinds exact match ${mean(rows.map((r) => r.ok))}: ${wrong}`,
    );
  };

  test('VQA: exact answers about held-out one-shape images (greedy)', async (t) => {
    const rows = (await askAll()).filter((r) => r.item.scene.shapes.length === 1);
    const core = colourShape(rows).length;
    assert.ok(core >= 8, `only ${core} one-shape colour/shape questions in the sample`);
    assertAnswers(t, rows);
  });

  test('VQA: exact answers about every held-out image (greedy)', async (t) => {
    assertAnswers(t, await askAll());
  });

  test('text to image: the oracle finds the prompted colour in the prompted place', async () => {
    const results = await Promise.all(
      sample.t2i.map(async (item, i) => {
        const d = engine.info().defaults.image;
        const stream = await engine.submitImage({
          id: `t2i-${i}`,
          n: 1,
          signal: new AbortController().signal,
          prompt: item.prompt,
          sampling: { ...d, seed: 1000 + i },
          previewAt: [],
        });
        let image: Buffer | undefined;
        for await (const e of stream) if (e.type === 'image') image = e.png;
        assert.ok(image, 'no image event');
        return judge(await rgb(image), item.color, item.position);
      }),
    );
    assert.ok(mean(results) >= 0.7, `oracle accuracy ${mean(results)} (${results.map(Number).join('')})`);
  });
});
