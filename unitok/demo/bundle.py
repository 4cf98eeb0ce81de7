"""Stage 3 of the demo model: convert a trained run into the committed default bundle, with its model card.

    python3 -m unitok build-demo-bundle --run runs/demo [--out models/demo] [--eval runs/demo/eval_int4.json]

The run's released-layout checkpoints (unitok_tokenizer.pth, mllm/) go through the same converter as the released
weights: `python3 -m unitok convert --tokenizer-config demo --mllm-config demo --dtype int4
--int4-accuracy-level 4 --lm-head-bits 8`. int4 keeps the bundle under the 40 MB budget (fp32 embed_tokens +
lm_head alone would be 33 MB). Accuracy level 4 (int8 activations inside MatMulNBits) and the int8 lm_head are what
a served bundle uses, for speed (docs/step-profile.md); `evaluate --dtype int4` computes the same weights with fp32
activations, so its figures can differ from the bundle's by that rounding, and test/demo-model.test.ts measures
the bundle itself.
MODEL_CARD.md is written from the run's metrics files; the held-out samples sheet is copied when present.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

from ..convert.convert import convert
from ..convert.progress import human_bytes
from ..export.tokenizer_onnx import load_released_tokenizer
from . import language, world
from .common import LM_HEAD_BITS
from .train_tokenizer import RELEASED_FILE

MAX_BUNDLE_BYTES = 40 * 10**6
DTYPE, ACCURACY_LEVEL = "int4", 4


def _label_note(tok: dict) -> str:
    weight = tok.get("label_weight")
    note = "" if not weight else (f", plus a label loss (weight {weight:g}): each one-shape image's embedding picks "
                                  "its shape and colour among the zero-shot templates' texts")
    if tok.get("readout_weight"):
        note += (f", plus a training-only linear read-out of each one-shape image's shape from its embedding (weight "
                 f"{tok['readout_weight']:g}; not part of the model)")
    return note


def _edge_note(tok: dict) -> str:
    weight = tok.get("edge_weight")
    return "" if not weight else f"; pixels within 2 px of a colour edge {weight:g}x more, so corners stay sharp"


def _tokenizer_command(tok: dict) -> str:
    """The main stage's command line, with the loss weights this run used."""
    flags = [f"--minutes {round(tok.get('train_minutes', 28))}"]
    if tok.get("edge_weight"):
        flags.append(f"--edge-weight {tok['edge_weight']:g}")
    if tok.get("readout_weight"):
        flags.append(f"--readout-weight {tok['readout_weight']:g}")
    if tok.get("locality_weight"):
        flags.append(f"--locality-weight {tok['locality_weight']:g}")
    if tok.get("pair_weight"):
        flags.append(f"--pair-weight {tok['pair_weight']:g}")
    return f"python3 -m unitok train-tokenizer --out runs/demo {' '.join(flags)}"


def _finetune_commands(tok: dict) -> str:
    """The stages after the MLLM's, in the order they run: the decoder-only fine-tune (with a read-out, also
    post_quant_proj and the CLIP image head: after train-mllm, which copies post_quant_proj as it was), then the
    CLIP-only rounds (which store means of post_quant_proj's features). Neither changes the codes."""
    lines = []
    ft = tok.get("decoder_finetune")
    if ft:
        # One command per recorded round (a continued stage resumes from the first's checkpoint); runs before
        # rounds were recorded: one command with the minutes spent.
        rounds = ft.get("rounds") or [{"minutes": round(ft["train_minutes"])}]
        for r in rounds:
            flags = [f"--batch {ft['batch']}", f"--lr {ft.get('lr', 5e-4):g}"]
            flags += [f"--minutes {r['minutes']:g}"] if r["minutes"] is not None else []
            flags += [f"--steps {r['steps']}"] if "steps" in r else []
            flags += [f"--{k.replace('_', '-')} {ft[k]:g}" for k in ("edge_weight", "readout_weight") if ft.get(k)]
            flags += [f"--code-noise {r['code_noise']:g}"] if r.get("code_noise") else []
            lines.append(f"python3 -m unitok train-tokenizer --out runs/demo --decoder-only {' '.join(flags)}")
    cf = tok.get("clip_finetune")
    if cf and "lr" in cf:
        lines.append(f"python3 -m unitok train-tokenizer --out runs/demo --clip-only --steps {cf['steps']} "
                     f"--batch {cf['batch']} --lr {cf['lr']:g} --minutes {max(round(cf['train_minutes']) + 1, 2)}")
    elif cf:  # runs 11-16 recorded no learning rate: their two rounds
        lines += ["python3 -m unitok train-tokenizer --out runs/demo --clip-only --steps 600 --batch 64 --lr 1e-3 --minutes 10",
                  "python3 -m unitok train-tokenizer --out runs/demo --clip-only --steps 800 --batch 64 --lr 5e-4 --minutes 8"]
    return "".join(line + "\n" for line in lines)


def evaluation_commands(run: str, image_sampling: dict) -> str:
    """After training: the held-out evaluation of run folder `run` with `image_sampling`, then its bundle."""
    flags = " ".join(f"--{k.replace('_', '-')} {image_sampling[k]}" for k in ("cfg_scale", "temperature", "top_k",
                                                                             "top_p", "best_of") if k in image_sampling)
    return (f"python3 -m unitok evaluate --run {run} --dtype int4 {flags} \\\n"
            f"  --out {run}/eval_int4.json --sheet {run}/samples.png\n"
            f"python3 -m unitok build-demo-bundle --run {run} --image-sampling '{json.dumps(image_sampling)}'\n")


def _load(path: str) -> dict:
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _mix(mllm: dict) -> str:
    mix = mllm.get("mix_last")
    if not mix:
        return "not recorded"
    return (f"{_pct(mix['t2i_share'])} text -> image rows ({_pct(mix['single_share'])} of them one-shape scenes, depth "
            f"head on the rows of each shape and the row above, and on {_pct(mix['depth_background'])} of the other "
            f"background tokens), the rest chats with up to "
            f"{mix['questions']} questions each"
            + (f" ({_pct(mix['chat_multi_share'])} of them drawn from two- and three-shape scenes, the rest from all)"
               if "chat_multi_share" in mix else "")
            + ("; the text -> image rows show their shapes at the cells' centres (the chats' images keep the jitter)"
               if mix.get("t2i_centred") else "")
            + (f"; the depth head's loss weighs {mix['decision_weight']:g}x at the first visual token and at each "
               "shape's first (where a drawing chooses its background, colours and positions)"
               if mix.get("decision_weight", 1.0) != 1.0 else ""))


def _mllm_flags(mllm: dict) -> str:
    """train-mllm's flags for the recorded mix options that are not the defaults of a plain run."""
    mix = mllm.get("mix_last") or {}
    return ((" --t2i-centred 1" if mix.get("t2i_centred") else "")
            + (f" --decision-weight {mix['decision_weight']:g}" if mix.get("decision_weight", 1.0) != 1.0 else "")
            + (f" --init-from {mllm['init_from']}" if mllm.get("init_from") else ""))


def _aux(mllm: dict) -> str:
    if not mllm.get("aux_weight_last"):
        return ""
    return ("\n   Training-only linear read-outs (weight {:g}, not part of the model or the bundle) ask the LLM's "
            "middle-layer state at each image token of a chat for the shape it belongs to and its row and column "
            "(the later layers' answer tokens read the image from there); at each text -> image step, its last "
            "state (the one the depth head reads) for the row and column being drawn and the shape under the next "
            "token, and its middle-layer state for the prompt's layout (each cell's colour and shape); at each "
            "answer position of a chat, its middle-layer state for the image's layout: the answers "
            "and the drawings need exactly that, which a few answer tokens and code losses teach slowly."
            ).format(mllm["aux_weight_last"])


def model_card(run: str, ev: dict, size: int, image_sampling: dict) -> str:
    tok, mllm = _load(os.path.join(run, "tokenizer_metrics.json")), _load(os.path.join(run, "mllm_train.json"))
    params = sum(p.numel() for p in load_released_tokenizer(os.path.join(run, RELEASED_FILE), "demo")[0].parameters())
    notes = ""
    if os.path.isfile(os.path.join(run, "NOTES.md")):  # the run's history, written by whoever ran it
        with open(os.path.join(run, "NOTES.md")) as f:
            notes = "\n\n   " + f.read().strip().replace("\n", "\n   ")
    ft = tok.get("decoder_finetune")
    cf = tok.get("clip_finetune")
    clip_note = ("" if not cf else f"\n   Then `train-tokenizer --clip-only` (the last round: {cf['steps']} steps x {cf['batch']} texts, "
                 f"{cf['train_minutes']:.0f} min): the text tower, fc_norm and projection alone, on stored means of "
                 "the image features, everything else frozen, so the codes did not change.")
    trained = ("the decoder, post_quant_proj and the CLIP image head (fc_norm, projection), with reconstruction, "
               f"a training-only shape read-out (weight {ft['readout_weight']:g}), the label and the contrastive "
               "losses; the encoder, quant_proj, codebooks and text tower frozen" if ft and ft.get("readout_weight")
               else "the decoder alone, everything else frozen")
    decoder_note = ("" if not ft else f"\n   Then `train-tokenizer --decoder-only` ({ft['steps']} steps, {ft['train_minutes']:.0f} min): "
                    f"{trained}, so the codes did not change.") + clip_note
    rec, zs, vqa, t2i, chat = (ev.get(k, {}) for k in ("reconstruction", "zero_shot", "vqa", "text_to_image", "chat"))

    def target(value, goal, fmt=_pct):
        if value is None:
            return "not measured"
        return f"{fmt(value)} ({'meets' if value >= goal else 'BELOW'} the target {fmt(goal)})"

    below = [name for name, value, goal in (("reconstruction PSNR", rec.get("psnr_mean"), 28.0),
                                             ("VQA colour + shape", vqa.get("accuracy_color_shape"), 0.9),
                                             ("text -> image colour + cell", t2i.get("accuracy"), 0.9),
                                             ("text -> image shape", t2i.get("shape_accuracy"), 0.8),
                                             ("text -> image background", t2i.get("background_accuracy"), 0.9),
                                             ("zero-shot colour", zs.get("color_accuracy"), 0.95),
                                             ("zero-shot shape", zs.get("shape_accuracy"), 0.8))
             if value is not None and value < goal]
    status = ("" if not below else f"\n**Status: below the demo's targets on {', '.join(below)}.** The training below "
              "was not enough for this model to learn those; the commands resume from the run's checkpoints, so more "
              "training continues where this stopped.\n")
    kinds = "\n".join(f"| {k} | {_pct(v)} |" for k, v in (vqa.get("accuracy_by_kind") or {}).items())
    chat_kinds = ", ".join(f"{k} {_pct(v)}" for k, v in (chat.get("accuracy_by_kind") or {}).items())
    five = "\n".join(f"| {p} | {r} |" for p, r in (chat.get("five_prompts") or {}).items())
    colours = ", ".join(world.COLORS)
    db = lambda v: f"{v:.2f} dB"  # noqa: E731
    return f"""# UniTok demo model (shapes world)

A small model **trained here, from scratch, on a synthetic world** of flat shapes, at the released architecture:
the UniTok tokenizer (ViTamin hybrid encoder, attention projections, 8-codebook quantiser, ViT + conv decoder,
CLIP text tower) and the unified MLLM (Llama-2-style decoder, visual embedder, 3-layer depth head `ar_head`).
It answers questions about shape images and draws them; it knows nothing else. It is the server's default model
so that `npm start` serves something that really answers and really draws.
{status}

## What it was trained on

`unitok/demo/world.py`: 128 x 128 images with one to three shapes (circle, square, triangle; all different within
an image), two sizes (small, large), on a 3 x 3 grid of positions (top left ... bottom right), on a flat
background; shapes and backgrounds share one palette of {len(world.COLORS)} colours ({colours}), the background
differing from every shape's colour. Train and held-out scenes are disjoint seeded streams.

`unitok/demo/language.py`: how people talk about it, a small grammar rather than a template. Image prompts ("a red
circle", "red circle on blue", "draw a small green triangle in the top left corner", "Generate an image of a
yellow square on a black background", "Can you paint two shapes: a red circle and a blue square?") with any
attribute left out (the model then chooses it), colour/color, grey/gray, centre/center, bottom-right, articles
present or not, any case, trailing punctuation, "please". Questions in many phrasings ("What colour is the
circle?", "which shape is red", "what's in this picture?", "how many shapes are there", "Is the square on the
left?", "Describe this image.") with short exact answers (a colour, a shape, a cell, a size, a number, yes/no, or the
canonical caption). Text-only chat: greetings and "what can you do?" get a short description of what the model
knows with one example prompt, "Describe a red circle." a sentence about it, anything outside the world an honest
refusal with an example prompt.

**Held-out language split** (never used in training; every figure below is measured on held-out scenes in it):

- image-prompt frames: {'; '.join(repr(f) for f in language.PROMPT_FRAMES['heldout'])}
- background phrasings: {'; '.join(repr(f) for f in language.BACKGROUND_PHRASES['heldout'])}
- {sum(len(v) for v in language.QUESTIONS['heldout'].values())} question phrasings, e.g. {'; '.join(repr(v[0]) for v in language.QUESTIONS['heldout'].values())}
- text-only chat: greetings {'; '.join(repr(f) for f in language.GREETINGS['heldout'])}; capability questions {'; '.join(repr(f) for f in language.CAPABILITY['heldout'])}; describe frames {'; '.join(repr(f) for f in language.DESCRIBE_FRAMES['heldout'])}; out-of-world frames {'; '.join(repr(f) for f in language.OUTSIDE_FRAMES['heldout'])}; out-of-world topics {', '.join(language.OUTSIDE_NOUNS['heldout'])}

Where the image goes: the released model was trained with every image at the start of its message
(`"<image>\\n{{question}}"`; LLaVA's preprocess_multimodal moves it there). The server does the same for any
request: a message's image parts come first, in their order, then its text parts, so an answer does not depend
on whether a client lists the text before or after the image (OpenAI's examples put it first).

## How

One command per stage, each resumable, on the project's 2-core CPU (`python3 -m unitok <command> --help`):

1. `train-tokenizer` ({tok.get('steps', '?')} steps x {tok.get('batch', '?')} images, {tok.get('train_minutes', 0):.0f} min):
   tokenizer preset `demo` (8 x 8 visual tokens, 8 codebooks x 256 x 8-d codes, {params / 1e6:.1f} M
   parameters). Loss: MSE + L1 reconstruction (shape pixels weighted 8x: they are a few percent of an image{_edge_note(tok)}),
   VQ codebook/commitment loss (beta 0.25, straight-through), image-text contrastive loss (weight {tok.get('clip_weight', 0.1):g}) against its
   own text tower, which reads open_clip's BPE ids (vocab 49408, context 77, as released; `unitok/clip_tokenizer.py`),
   on descriptions in the prompt grammar and zero-shot-style texts ("a photo of a circle"){_label_note(tok)}. The first steps train a plain autoencoder; the codebooks are then seeded
   from its latents and unused entries re-seeded where the codebook fits worst. No pretrained networks, no
   perceptual or GAN loss.{decoder_note}
2. `train-mllm` ({mllm.get('steps', '?')} steps x {mllm.get('batch', '?')} sequences, {mllm.get('train_minutes', 0):.0f} min):
   MLLM preset `demo` (hidden 128, 4 layers, 4 heads, depth head 3 layers, real Llama-2 tokenizer and 32000-token
   vocabulary). Rows are text -> image in the released format (`{{prompt}} Generate an image based on this
   description.` + boi + 64 visual tokens + eoi + eos, the prompt from the grammar's training split; depth-head loss
   on the codes, 10% of prompts dropped to `<unconditional>` for CFG), vicuna_v1 chats with the image (loss on
   the answer), or text-only vicuna_v1 chats ({_pct((mllm.get('mix_last') or {}).get('text_share'))} of the rows).
   Mix per batch: {_mix(mllm)}.
   The depth head trains on every visual token of the rows a shape touches and of the row above it (where the
   model decides where a shape starts) and on a random share of the other background ones; a chat row carries several questions about its image as branches that each see only the prompt, the
   image and themselves (exactly single-turn chats, sharing one image). Text -> image rows embed each visual
   token alone, as the released generation loop feeds them. The visual embedder starts from the tokenizer's
   codebooks (frozen) and post_quant_proj, as released.{_aux(mllm)}{notes}
3. `build-demo-bundle`: the released-layout checkpoints through `python3 -m unitok convert --dtype {DTYPE}
   --int4-accuracy-level {ACCURACY_LEVEL} --lm-head-bits {LM_HEAD_BITS}` (int4 Linear layers, an int8 lm_head, fp16
   embedding tables; fp32 tokenizer graphs).
4. `evaluate --dtype int4`: the numbers below, computed on the bundle's own (int4-dequantised) weights.

## Measured quality (held-out split)

| property | value |
|---|---|
| reconstruction PSNR ({rec.get('images', '?')} images) | {target(rec.get('psnr_mean'), 28.0, db)} |
| zero-shot shape accuracy, CLIP side ({zs.get('images', '?')} one-shape images, "{world.ZEROSHOT_TEMPLATES['shape']}") | {target(zs.get('shape_accuracy'), 0.8)} |
| zero-shot colour accuracy, CLIP side ("{world.ZEROSHOT_TEMPLATES['color']}") | {target(zs.get('color_accuracy'), 0.95)} |
| VQA exact match, colour + shape questions ({vqa.get('questions', '?')} questions in all) | {target(vqa.get('accuracy_color_shape'), 0.9)} |
| VQA exact match, all question kinds | {_pct(vqa.get('accuracy_all'))} |
| text -> image oracle, colour and cell right, one-shape prompts ({t2i.get('prompts', '?')}) | {target(t2i.get('accuracy'), 0.9)} |
| ... colour present / position right | {_pct(t2i.get('color_accuracy'))} / {_pct(t2i.get('position_accuracy'))} |
| ... shape right (the shape oracle) | {target(t2i.get('shape_accuracy'), 0.8)} |
| ... background right | {target(t2i.get('background_accuracy'), 0.9)} |
| text-only chat, exact reply ({chat.get('requests', '?')} held-out requests) | {_pct(chat.get('accuracy_all'))} ({chat_kinds}) |

VQA by question kind (the image part first or last in the request gives the same prompt, hence the same
answers; test/demo-model.test.ts asks both orders through the engine):

| kind | exact match |
|---|---|
{kinds}

Replies to what a new user types first (greedy, text only):

| request | reply |
|---|---|
{five}

Text -> image was measured with {json.dumps(t2i.get('settings', {}))}; the bundle's default image sampling is
{json.dumps(image_sampling)}. The oracle (`world.judge_single`) maps every pixel to the nearest palette colour,
requires the prompt's colour over at least half a small circle's area, and its centroid in the prompt's cell; the
shape oracle (`world.shape_of`) takes the largest connected region of that colour and calls it a square, circle or
triangle by how much of its bounding box it fills (1, 0.79, 0.5 for the renderer's shapes); the background is the
most common colour of the border pixels.
`samples.png` shows the held-out generations in order.

## Limits

- It knows only this world: these shapes, colours and positions. In chat it says so for anything else; an image
  prompt about anything else still gets shapes; a question about an image outside the world gets one of the
  answers it knows. It is not a general assistant.
- 128 px, 8 x 8 visual tokens (the release: 256 px, 16 x 16); edges are soft and small shapes can lose their corners.
- Its shapes are 26 or 38 px wide; others are misread (a red circle 60 px wide on blue, drawn with PIL, was
  described as "a large red square at the center and a large red circle at the right").
- Prompts with two or three shapes were not evaluated; several images in one message, and several turns, were not
  trained. Sampling hotter than the default adds stray blobs.
- "Describe the image." (the caption kind above) is the weakest answer: it is long, and one wrong word fails it.
- Bundle size: {human_bytes(size)} ({DTYPE} MLLM graphs, fp32 tokenizer graphs).

Rebuild (this model's recipe; the budgets are wall-clock minutes, so the step counts depend on the machine and
on what else runs on it{"; the stages after train-mllm change nothing the MLLM reads" if tok.get("clip_finetune") or tok.get("decoder_finetune") else ""}):

```sh
{_tokenizer_command(tok)}
python3 -m unitok train-mllm --out runs/demo --minutes {round(mllm.get('train_minutes', 70))}{_mllm_flags(mllm)}
{_finetune_commands(tok)}{evaluation_commands("runs/demo", image_sampling)}```

License: MIT, like the project; the data is synthetic.
"""


def build(run: str, out: str, eval_path: str, image_sampling: dict | None) -> int:
    tmp = out.rstrip("/") + ".building"
    shutil.rmtree(tmp, ignore_errors=True)
    config = convert(os.path.join(run, RELEASED_FILE), os.path.join(run, "mllm"), tmp, DTYPE, "demo", "demo",
                     ACCURACY_LEVEL, lm_head_bits=LM_HEAD_BITS)
    # The text tower reads open_clip BPE (convert declares it); its zero-shot default is what the demo trained on.
    with open(os.path.join(tmp, "unitok_config.json")) as f:
        manifest = json.load(f)
    manifest["clip"]["zero_shot_template"] = world.ZEROSHOT_TEMPLATES["shape"]
    with open(os.path.join(tmp, "unitok_config.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    config["files"]["unitok_config.json"] = os.path.getsize(os.path.join(tmp, "unitok_config.json"))
    if image_sampling:  # measured better for this small model than the released 7B's benchmark settings
        config["sampling"]["image"] = image_sampling
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    sheet = os.path.join(run, "samples.png")
    if os.path.isfile(sheet):
        shutil.copyfile(sheet, os.path.join(tmp, "samples.png"))
    size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    with open(os.path.join(tmp, "MODEL_CARD.md"), "w") as f:
        f.write(model_card(run, _load(eval_path), size, config["sampling"]["image"]))
    size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp))
    if size > MAX_BUNDLE_BYTES:
        print(f"error: bundle is {human_bytes(size)}, over the {human_bytes(MAX_BUNDLE_BYTES)} budget; left in {tmp}",
              file=sys.stderr)
        return 1
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    print(f"wrote {out} ({human_bytes(size)})", file=sys.stderr)
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m unitok build-demo-bundle", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/demo")
    ap.add_argument("--out", default="models/demo")
    ap.add_argument("--eval", help="evaluation report for the model card (default: RUN/eval_int4.json)")
    ap.add_argument("--image-sampling", help='override the default image sampling, JSON, e.g. '
                    '\'{"cfg_scale": 3.0, "temperature": 1.0, "top_k": 0, "top_p": 1.0}\'')
    args = ap.parse_args(argv)
    return build(args.run, args.out, args.eval or os.path.join(args.run, "eval_int4.json"),
                 json.loads(args.image_sampling) if args.image_sampling else None)
