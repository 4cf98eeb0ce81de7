"""The synthetic "shapes world" the demo model is trained and evaluated on.

An image is 128 x 128 (8 x 8 visual tokens for the demo tokenizer): one flat background colour and one to three
flat shapes. Everything about an image is a small record (a `Scene`), so captions, questions and answers are exact
and a rendered image can be judged by a program (the oracle below).

  shapes      circle, square, triangle      (within one image all different, so "the circle" is unambiguous)
  colours     red, green, blue, yellow, purple, orange   (within one image all different)
  sizes       small, large
  positions   a 3 x 3 grid: top left, top, top right, left, center, right, bottom left, bottom, bottom right
              (one shape per cell, centre jittered by a few pixels)
  backgrounds white, gray, black, cyan

Splits are seeded streams: scene i of split s is drawn from its own generator seeded by (split seed, i), so any
scene can be re-made on its own and train / held-out never share a draw. Held-out scenes are new draws of the same
distribution, not new words: the model never saw those images, captions with those jitters, or those questions.

`python3 -m unitok make-world --out DIR` writes a browsable sample (PNG grid + JSON) for people to look at;
training renders scenes on the fly, which is faster than reading files.
"""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass

import numpy as np

IMG_SIZE = 128
SUPERSAMPLE = 4  # render at 4x and box-filter down: anti-aliased edges, which a small decoder can reproduce

SHAPES = ("circle", "square", "triangle")
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 205, 40),
    "purple": (140, 60, 190),
    "orange": (240, 130, 30),
}
BACKGROUNDS = {"white": (235, 235, 235), "gray": (120, 120, 120), "black": (25, 25, 25), "cyan": (70, 200, 210)}
SIZES = {"small": 10, "large": 17}  # half-extent in pixels
POSITIONS = ("top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right")
JITTER = 4  # pixels each way
COUNT_PROBS = (0.5, 0.3, 0.2)  # one, two, three shapes: single shapes are what text-to-image is judged on

SPLIT_SEEDS = {"train": 1_000, "heldout": 2_000}


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
    shapes = rng.permutation(len(SHAPES))[:n]
    colors = rng.permutation(len(COLORS))[:n]
    cells = rng.permutation(len(POSITIONS))[:n]
    out = []
    for s, c, cell in zip(shapes, colors, cells):
        x, y = cell_centre(int(cell))
        jx, jy = rng.integers(-JITTER, JITTER + 1, size=2)
        out.append(Shape(SHAPES[s], list(COLORS)[c], list(SIZES)[int(rng.integers(2))], int(cell),
                         float(x + jx), float(y + jy)))
    return Scene(list(BACKGROUNDS)[int(rng.integers(len(BACKGROUNDS)))], tuple(out))


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


# ------------------------------------------------------------------------------------------ questions


def questions(scene: Scene, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """Every (kind, question, answer) the scene supports. Answers are short exact strings."""
    qa = []
    for s in scene.shapes:
        qa.append(("color", f"What color is the {s.shape}?", s.color))
        qa.append(("shape", f"What shape is the {s.color} object?", s.shape))
        qa.append(("position", f"Where is the {s.shape}?", s.position))
        qa.append(("size", f"What size is the {s.shape}?", s.size))
    qa.append(("count", "How many shapes are there?", str(len(scene.shapes))))
    qa.append(("background", "What color is the background?", scene.background))
    # One yes and one no per scene, so "is there" is balanced.
    present = {(s.color, s.shape) for s in scene.shapes}
    s = scene.shapes[int(rng.integers(len(scene.shapes)))]
    qa.append(("exists", f"Is there a {s.color} {s.shape}?", "yes"))
    while True:
        c, sh = list(COLORS)[int(rng.integers(len(COLORS)))], SHAPES[int(rng.integers(len(SHAPES)))]
        if (c, sh) not in present:
            break
    qa.append(("exists", f"Is there a {c} {sh}?", "no"))
    qa.append(("caption", "Describe the image.", scene.caption()))
    return qa


# ------------------------------------------------------------------------ CLIP-side word vocabulary

# The CLIP text tower of the demo reads this closed word-level vocabulary instead of open_clip's 49408-token BPE:
# every word the world's captions use, plus a few for prompts. Ids: 0 pad, 1 unknown word, then the words, then
# start / end of text. End of text must be the highest id: the released text tower pools at text.argmax().
CLIP_WORDS = ("a an the of photo picture image shape object with at on in and background " + " ".join(SHAPES) + " "
              + " ".join(COLORS) + " " + " ".join(BACKGROUNDS) + " " + " ".join(SIZES)
              + " top bottom left right center").split()
CLIP_WORDS = tuple(dict.fromkeys(CLIP_WORDS))  # de-duplicate, keep order
CLIP_PAD, CLIP_UNK = 0, 1
CLIP_VOCAB = {w: i + 2 for i, w in enumerate(CLIP_WORDS)}
CLIP_SOT = len(CLIP_WORDS) + 2
CLIP_EOT = CLIP_SOT + 1
CLIP_VOCAB_SIZE = CLIP_EOT + 1


def clip_tokenize(texts: list[str], context_length: int) -> np.ndarray:
    """int64 [B, context_length]: sot, word ids, eot, zero padding (truncated with eot kept last, as open_clip)."""
    out = np.zeros((len(texts), context_length), np.int64)
    for i, text in enumerate(texts):
        words = "".join(ch if ch.isalnum() else " " for ch in text.lower()).split()
        ids = [CLIP_SOT] + [CLIP_VOCAB.get(w, CLIP_UNK) for w in words][: context_length - 2] + [CLIP_EOT]
        out[i, : len(ids)] = ids
    return out


def clip_words() -> dict:
    """The vocabulary above as a bundle's clip_words.json (unitok/export/clip_files.py), so the server tokenises
    text for this text tower exactly as clip_tokenize does. "a {}" is the template of the shape zero-shot prompts."""
    from ..export.clip_files import words_vocabulary

    return words_vocabulary(CLIP_VOCAB, CLIP_PAD, CLIP_UNK, CLIP_SOT, CLIP_EOT, template="a {}")


def clip_caption(scene: Scene, rng: np.random.Generator) -> str:
    """A text for the contrastive loss: the full caption or a shorter view of one shape. The short views are the
    zero-shot prompts' vocabulary ("a circle", "a red object"), so the CLIP side learns them directly."""
    s = scene.shapes[int(rng.integers(len(scene.shapes)))]
    views = (scene.caption(), scene.caption(with_size=False, with_background=False), f"a {s.color} {s.shape}",
             f"a {s.shape}", f"a {s.color} object")
    return views[int(rng.integers(len(views)))]


# -------------------------------------------------------------------------------------------- oracle


def judge_single(image: np.ndarray, color: str, position: str, shape: str | None = None) -> dict:
    """Programmatic check of a rendered image against a one-shape prompt.

    Every pixel is assigned to the nearest palette colour (shape colours and backgrounds). The named colour must
    cover a shape-sized area (at least half the area of a small circle), and the centroid of those pixels must
    fall in the named 3 x 3 cell. The shape is judged by how much of its bounding box the colour fills (circle
    ~0.79, square ~1, triangle ~0.5), reported but not part of `ok`.
    """
    palette = {**{f"shape:{k}": v for k, v in COLORS.items()}, **{f"bg:{k}": v for k, v in BACKGROUNDS.items()}}
    names = list(palette)
    table = np.asarray([palette[n] for n in names], np.float32)
    px = image.reshape(-1, 3).astype(np.float32)
    nearest = ((px[:, None, :] - table[None]) ** 2).sum(-1).argmin(1).reshape(image.shape[:2])
    mask = nearest == names.index(f"shape:{color}")
    area = int(mask.sum())
    min_area = 0.5 * np.pi * SIZES["small"] ** 2
    result = {"area": area, "color_ok": area >= min_area, "position_ok": False, "shape_ok": None, "found": None}
    if area:
        ys, xs = np.nonzero(mask)
        cx, cy = xs.mean(), ys.mean()
        col, row = min(int(cx * 3 / image.shape[1]), 2), min(int(cy * 3 / image.shape[0]), 2)
        result["found"] = POSITIONS[row * 3 + col]
        result["position_ok"] = result["found"] == position
        fill = area / ((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))
        guess = "square" if fill > 0.89 else "circle" if fill > 0.64 else "triangle"
        result["shape"] = guess
        result["shape_ok"] = None if shape is None else guess == shape
    result["ok"] = bool(result["color_ok"] and result["position_ok"])
    return result


# -------------------------------------------------------------------------------------------- command


def main(argv: list[str]) -> int:
    from PIL import Image

    ap = argparse.ArgumentParser(prog="python3 -m unitok make-world", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--split", choices=list(SPLIT_SEEDS), default="heldout")
    ap.add_argument("--count", type=int, default=64, help="scenes to write (PNG + questions)")
    ap.add_argument("--t2i", type=int, default=16, help="one-shape text-to-image prompts to list (no images)")
    ap.add_argument("--first", type=int, default=0, help="index of the first scene")
    ap.add_argument("--t2i-first", type=int, default=300_000, help="index of the first prompt scene "
                    "(default: the one `evaluate` starts at, so the list is a prefix of its prompts)")
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
        qa = [dict(kind=k, question=q, answer=a) for k, q, a in questions(scene, scene_rng(args.split, 10**9 + i))]
        records.append({"index": i, "file": f"{args.split}_{i:06d}.png", **scene.to_dict(), "qa": qa})
    prompts = []
    for n in range(args.t2i):
        scene = make_scene(args.split, args.t2i_first + n, count=1)
        s = scene.shapes[0]
        prompts.append({"index": args.t2i_first + n, "prompt": scene.caption(), "color": s.color,
                        "position": s.position, "shape": s.shape})
    if args.count and not args.no_sheet:
        Image.fromarray(sheet).save(os.path.join(args.out, "sheet.png"))
    # Everything a program in another language needs to run the oracle (judge_single) on generated images.
    oracle = {"colors": COLORS, "backgrounds": BACKGROUNDS, "positions": POSITIONS,
              "min_color_area": 0.5 * float(np.pi) * SIZES["small"] ** 2}
    # Zero-shot prompts for the CLIP side, already in the text tower's word ids (context 32, the demo preset's).
    clip = {kind: {"labels": list(labels), "ids": clip_tokenize([template.format(x) for x in labels], 32).tolist()}
            for kind, labels, template in (("shape", SHAPES, "a {}"), ("color", COLORS, "a {} object"))}
    with open(os.path.join(args.out, f"{args.split}.json"), "w") as f:
        json.dump({"split": args.split, "image_size": IMG_SIZE, "oracle": oracle, "clip": clip, "scenes": records,
                   "t2i": prompts}, f, separators=(",", ":"))
    print(f"wrote {args.count} {args.split} scenes with their questions and {args.t2i} prompts to {args.out}")
    return 0
