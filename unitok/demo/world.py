"""The synthetic "shapes world" the demo model is trained and evaluated on.

An image is 128 x 128 (8 x 8 visual tokens for the demo tokenizer): one flat background colour and one to three
flat shapes, all from one palette (a background never has a shape's colour). Everything about an image is a small record (a `Scene`), so captions, questions and answers are exact
and a rendered image can be judged by a program (the oracle below).

  shapes      circle, square, triangle      (within one image all different, so "the circle" is unambiguous)
  colours     red, green, blue, yellow, purple, orange, white, gray, black   (shapes and backgrounds alike;
              within one image all different)
  sizes       small, large
  positions   a 3 x 3 grid: top left, top, top right, left, center, right, bottom left, bottom, bottom right
              (one shape per cell, centre jittered by a few pixels)

Splits are seeded streams: scene i of split s is drawn from its own generator seeded by (split seed, i), so any
scene can be re-made on its own and train / held-out never share a draw. Held-out scenes are new draws of the same
distribution. How people talk about the world (prompts, captions, questions, replies) is in `language.py`, which
also keeps a held-out language split (phrasings and words the training never uses).

`python3 -m unitok make-world --out DIR` writes a browsable sample (PNG grid + JSON) for people to look at;
training renders scenes on the fly, which is faster than reading files.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
from dataclasses import dataclass

import numpy as np

IMG_SIZE = 128
SUPERSAMPLE = 4  # render at 4x and box-filter down: anti-aliased edges, which a small decoder can reproduce

SHAPES = ("circle", "square", "triangle")
# One palette for shapes and backgrounds ("a white square on a blue background" and "a blue circle on white").
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 40),
    "purple": (140, 60, 190),
    "orange": (240, 130, 30),
    "white": (235, 235, 235),
    "gray": (120, 120, 120),
    "black": (25, 25, 25),
}
BACKGROUNDS = COLORS
# Half-extent in pixels. A 128-px image has 16-px visual tokens: a small shape of half-extent 10 (issue 5's) covered
# about one token and came out of the generator as a blob the oracle could not tell apart from the other shapes.
SIZES = {"small": 13, "large": 19}
POSITIONS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
JITTER = 2  # pixels each way: two large shapes in neighbouring cells never touch (42.7 - 2 * 2 > 2 * 19)
COUNT_PROBS = (0.5, 0.3, 0.2)  # one, two, three shapes: single shapes are what text-to-image is judged on

SPLIT_SEEDS = {"train": 1_000, "heldout": 2_000}
# The CLIP side's zero-shot prompts (evaluate, the TypeScript test, the model card).
ZEROSHOT_TEMPLATES = {"shape": "a photo of a {}", "color": "a photo of a {} shape"}


@dataclass(frozen=True)
class Shape:
    shape: str
    color: str
    size: str
    cell: int  # index into POSITIONS, row-major over the 3 x 3 grid
    cx: float  # centre in pixels
    cy: float

    @property
    def position(self) -> str:
        return POSITIONS[self.cell]

    def phrase(self, with_size: bool = True) -> str:
        size = f"{self.size} " if with_size else ""
        return f"{'an' if (size or self.color)[0] in 'aeiou' else 'a'} {size}{self.color} {self.shape} at the {self.position}"


@dataclass(frozen=True)
class Scene:
    background: str
    shapes: tuple  # of Shape

    def caption(self, with_size: bool = True, with_background: bool = True) -> str:
        parts = [s.phrase(with_size) for s in self.shapes]
        text = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        return text + (f" on a {self.background} background" if with_background else "")

    def to_dict(self) -> dict:
        return {"background": self.background, "caption": self.caption(),
                "shapes": [dict(shape=s.shape, color=s.color, size=s.size, position=s.position, cx=s.cx, cy=s.cy)
                           for s in self.shapes]}


def cell_centre(cell: int) -> tuple[float, float]:
    step = IMG_SIZE / 3
    return (cell % 3 + 0.5) * step, (cell // 3 + 0.5) * step


def sample_scene(rng: np.random.Generator, count: int | None = None) -> Scene:
    n = count or int(rng.choice(3, p=COUNT_PROBS)) + 1
    background = int(rng.integers(len(COLORS)))
    shapes = rng.permutation(len(SHAPES))[:n]
    colors = [c for c in rng.permutation(len(COLORS)) if c != background][:n]
    cells = rng.permutation(len(POSITIONS))[:n]
    out = []
    for s, c, cell in zip(shapes, colors, cells):
        x, y = cell_centre(int(cell))
        jx, jy = rng.integers(-JITTER, JITTER + 1, size=2)
        out.append(Shape(SHAPES[s], list(COLORS)[c], list(SIZES)[int(rng.integers(2))], int(cell),
                         float(x + jx), float(y + jy)))
    return Scene(list(COLORS)[background], tuple(out))


def centred(scene: Scene) -> Scene:
    """The scene with every shape at its cell's centre (no jitter): a drawing row's target. Jitter teaches the
    answers to read a shape wherever it lies; a drawing has no reason to move it off the centre, and without the
    jitter a prompt names one outline per (shape, size, cell), which a small generator can learn exactly."""
    return Scene(scene.background, tuple(dataclasses.replace(s, cx=cell_centre(s.cell)[0], cy=cell_centre(s.cell)[1])
                                         for s in scene.shapes))


def scene_rng(split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([SPLIT_SEEDS[split], index])


def make_scene(split: str, index: int, count: int | None = None) -> Scene:
    return sample_scene(scene_rng(split, index), count)


def shape_mask(shape: Shape, size: int = IMG_SIZE, ss: int = SUPERSAMPLE) -> np.ndarray:
    """Coverage in [0, 1] of one shape, [size, size], from an ss x ss supersampled inside test."""
    coords = (np.arange(size * ss) + 0.5) / ss
    x, y = coords[None, :], coords[:, None]
    r = SIZES[shape.size]
    dx, dy = x - shape.cx, y - shape.cy
    if shape.shape == "circle":
        inside = dx * dx + dy * dy <= r * r
    elif shape.shape == "square":
        inside = (np.abs(dx) <= r) & (np.abs(dy) <= r)
    else:  # upward triangle inscribed in the square of half-extent r
        inside = (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
    return inside.reshape(size, ss, size, ss).mean(axis=(1, 3))


def render(scene: Scene) -> np.ndarray:
    """uint8 [128, 128, 3]."""
    img = np.empty((IMG_SIZE, IMG_SIZE, 3), np.float32)
    img[:] = BACKGROUNDS[scene.background]
    for s in scene.shapes:
        a = shape_mask(s)[..., None]
        img = img * (1 - a) + np.asarray(COLORS[s.color], np.float32) * a
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def to_pixels(images: np.ndarray) -> "np.ndarray":
    """uint8 [B, H, W, 3] -> float32 [B, 3, H, W] in [-1, 1] (the released normalisation)."""
    return images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5 - 1.0


def from_pixels(images) -> "np.ndarray":
    """A decoder's torch [B, 3, H, W] in [-1, 1] -> uint8 [B, H, W, 3], rounded and clamped as a user saves it."""
    return ((images + 1) * 127.5).round().clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)


# ----------------------------------------------------------------------------------- CLIP-side text

# The demo's CLIP text tower reads open_clip's BPE ids (vocab 49408, context 77), as the released one does.
CLIP_CONTEXT = 77


@functools.lru_cache(maxsize=1)
def _clip_bpe():
    from ..clip_tokenizer import ClipTokenizer

    return ClipTokenizer()


@functools.lru_cache(maxsize=None)
def _clip_ids(text: str) -> tuple:
    return tuple(_clip_bpe().encode(text))


def clip_tokenize(texts: list[str], context_length: int = CLIP_CONTEXT) -> np.ndarray:
    """int64 [B, context_length], open_clip's tokenize: sot 49406, BPE ids, eot 49407, zero padding; a text too
    long is cut with eot kept last. Per-text ids are cached (training repeats its captions)."""
    from ..clip_tokenizer import EOT_ID as eot, SOT_ID as sot

    out = np.zeros((len(texts), context_length), np.int64)
    for i, text in enumerate(texts):
        ids = [sot, *_clip_ids(text)][: context_length - 1] + [eot]
        out[i, : len(ids)] = ids
    return out


# -------------------------------------------------------------------------------------------- oracle


def _nearest_palette(image: np.ndarray) -> np.ndarray:
    """int [H, W]: index into COLORS of each pixel's nearest palette colour."""
    table = np.asarray(list(COLORS.values()), np.float32)
    px = image.reshape(-1, 3).astype(np.float32)
    return ((px[:, None, :] - table[None]) ** 2).sum(-1).argmin(1).reshape(image.shape[:2])


def shape_of(mask: np.ndarray) -> tuple[str, int]:
    """The shape oracle: (guess, area) of the largest 4-connected region of `mask`, judged by how much of its
    bounding box it fills (square ~1, circle ~0.79, triangle ~0.5). It knows only the renderer's geometry."""
    if not mask.any():
        return "none", 0
    # Connected components by label propagation: every pixel takes the smallest label among its 4 neighbours.
    big = mask.size
    labels = np.where(mask, np.arange(big).reshape(mask.shape), big)
    while True:
        padded = np.pad(labels, 1, constant_values=big)
        nxt = np.minimum.reduce([labels, padded[:-2, 1:-1], padded[2:, 1:-1], padded[1:-1, :-2], padded[1:-1, 2:]])
        nxt = np.where(mask, nxt, big)
        if (nxt == labels).all():
            break
        labels = nxt
    ids, counts = np.unique(labels[mask], return_counts=True)
    ys, xs = np.nonzero(labels == ids[counts.argmax()])
    fill = len(ys) / ((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))
    return ("square" if fill > 0.89 else "circle" if fill > 0.64 else "triangle"), len(ys)


def judge_single(image: np.ndarray, color: str, position: str, shape: str | None = None,
                 background: str | None = None) -> dict:
    """Programmatic check of a rendered image against a one-shape prompt.

    Every pixel is assigned to the nearest palette colour. The named colour must cover a shape-sized area (at
    least half the area of a small circle), and the centroid of those pixels must fall in the named 3 x 3 cell
    (`ok`). The shape (shape_of on the named colour's pixels) and the background (the most common colour of the
    image's border pixels) are judged apart: `shape_ok`, `background_ok` (None when not asked)."""
    nearest = _nearest_palette(image)
    mask = nearest == list(COLORS).index(color)
    area = int(mask.sum())
    min_area = 0.5 * np.pi * SIZES["small"] ** 2
    border = np.concatenate([nearest[0], nearest[-1], nearest[:, 0], nearest[:, -1]])
    found_bg = list(COLORS)[int(np.bincount(border, minlength=len(COLORS)).argmax())]
    result = {"area": area, "color_ok": area >= min_area, "position_ok": False, "shape": None, "found": None,
              "background": found_bg, "background_ok": None if background is None else found_bg == background}
    if area:
        ys, xs = np.nonzero(mask)
        cx, cy = xs.mean(), ys.mean()
        col, row = min(int(cx * 3 / image.shape[1]), 2), min(int(cy * 3 / image.shape[0]), 2)
        result["found"] = POSITIONS[row * 3 + col]
        result["position_ok"] = result["found"] == position
        result["shape"] = shape_of(mask)[0]
    result["shape_ok"] = None if shape is None else result["shape"] == shape
    result["ok"] = bool(result["color_ok"] and result["position_ok"])
    return result


# -------------------------------------------------------------------------------------------- command


def main(argv: list[str]) -> int:
    from PIL import Image

    from . import language

    ap = argparse.ArgumentParser(prog="python3 -m unitok make-world", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--split", choices=list(SPLIT_SEEDS), default="heldout")
    ap.add_argument("--count", type=int, default=64, help="scenes to write (PNG + questions)")
    ap.add_argument("--t2i", type=int, default=16, help="one-shape text-to-image prompts to list (no images)")
    ap.add_argument("--first", type=int, default=0, help="index of the first scene")
    ap.add_argument("--t2i-first", type=int, default=300_000, help="index of the first prompt scene "
                    "(default: the one `evaluate` starts at, so the list is a prefix of its prompts)")
    ap.add_argument("--chat", type=int, default=12, help="text-only chat requests and their replies to list")
    ap.add_argument("--chat-first", type=int, default=400_000, help="seed index of the first chat request (default: "
                    "the one `evaluate` starts at)")
    ap.add_argument("--no-sheet", action="store_true", help="skip the contact sheet")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    records, side = [], int(np.ceil(np.sqrt(max(args.count, 1))))
    sheet = np.zeros((side * IMG_SIZE, side * IMG_SIZE, 3), np.uint8)
    for n in range(args.count):
        i = args.first + n
        scene = make_scene(args.split, i)
        img = render(scene)
        Image.fromarray(img).save(os.path.join(args.out, f"{args.split}_{i:06d}.png"))
        r, c = divmod(n, side)
        sheet[r * IMG_SIZE:(r + 1) * IMG_SIZE, c * IMG_SIZE:(c + 1) * IMG_SIZE] = img
        qa = [dict(kind=k, question=q, answer=a)
              for k, q, a in language.questions(scene, scene_rng(args.split, 10**9 + i), args.split)]
        records.append({"index": i, "file": f"{args.split}_{i:06d}.png", **scene.to_dict(), "qa": qa})
    prompts = []
    for n in range(args.t2i):
        scene = make_scene(args.split, args.t2i_first + n, count=1)
        s = scene.shapes[0]
        prompts.append({"index": args.t2i_first + n, "prompt": language.eval_prompt(scene, args.t2i_first + n),
                        "color": s.color, "position": s.position, "shape": s.shape,
                        "background": scene.background})
    chats = [dict(zip(("kind", "request", "reply"), language.text_chat(scene_rng(args.split, args.chat_first + n),
                                                                       args.split)))
             for n in range(args.chat)]
    if args.count and not args.no_sheet:
        Image.fromarray(sheet).save(os.path.join(args.out, "sheet.png"))
    # Everything a program in another language needs to run the oracle (judge_single) on generated images.
    oracle = {"colors": COLORS, "positions": POSITIONS, "min_color_area": 0.5 * float(np.pi) * SIZES["small"] ** 2}
    # Zero-shot prompts for the CLIP side, already in the text tower's BPE ids (padding cut off).
    clip = {kind: {"labels": list(labels), "template": template,
                   "ids": [[t for t in row if t] for row in clip_tokenize([template.format(x) for x in labels]).tolist()]}
            for kind, labels, template in (("shape", SHAPES, ZEROSHOT_TEMPLATES["shape"]),
                                           ("color", COLORS, ZEROSHOT_TEMPLATES["color"]))}
    with open(os.path.join(args.out, f"{args.split}.json"), "w") as f:
        json.dump({"split": args.split, "image_size": IMG_SIZE, "oracle": oracle, "clip": clip, "scenes": records,
                   "t2i": prompts, "chat": chats}, f, separators=(",", ":"))
    print(f"wrote {args.count} {args.split} scenes with their questions, {args.t2i} prompts and {args.chat} chat "
          f"requests to {args.out}")
    return 0
