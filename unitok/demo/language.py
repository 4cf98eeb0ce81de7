"""How people talk about the shapes world: a small grammar for image prompts, captions, questions and text-only
chat, with many phrasings and word orders, and a held-out language split.

Every generator takes a split ("train" or "heldout") and an rng. Both splits use the same attribute words (the
model cannot learn what a word it never saw means); they differ in the phrasings around them, which the training
never uses on the held-out side: the frames of image prompts ("I'd like to see {d}"), the question templates
("Could you tell me the colour of the {shape}?"), the requests of text-only chat and the out-of-world topics
("a red bicycle", "write a poem about the sea"). `python3 -m unitok make-world` lists both.

Answers stay short and canonical (a colour, a shape, a cell, "yes"/"no", a number, or the canonical caption), so
they can be checked exactly; the replies to text-only chat are fixed sentences (`REPLIES`) or one sentence built
from the request's attributes (`describe_reply`).
"""
from __future__ import annotations

import re

import numpy as np

from . import world
from .world import COLORS, POSITIONS, SHAPES, Scene

SPLITS = ("train", "heldout")

# Words: every variant is used by both splits (colour/color, grey/gray, centre/center, bottom-right...).
COLOR_WORDS = {c: (c,) for c in COLORS} | {"gray": ("gray", "grey")}
CELL_WORDS = {  # the cell's name as an adjective phrase ("top left"); prepositions come from POSITION_PHRASES
    "top left": ("top left", "top-left", "upper left"), "top": ("top", "top middle", "top centre", "top center"),
    "top right": ("top right", "top-right", "upper right"), "left": ("left", "middle left", "left side"),
    "center": ("center", "centre", "middle"), "right": ("right", "middle right", "right side"),
    "bottom left": ("bottom left", "bottom-left", "lower left"),
    "bottom": ("bottom", "bottom middle", "bottom centre", "bottom center"),
    "bottom right": ("bottom right", "bottom-right", "lower right"),
}
POSITION_PHRASES = ("at the {p}", "in the {p}", "on the {p}", "{p}")  # "in the top left corner": see _position
BACKGROUND_PHRASES = {
    "train": ("on a {b} background", "on {b}", "on a {b} backdrop", "with a {b} background", "against {b}",
              "against a {b} background", "over {b}", "{b} background"),
    "heldout": ("on a plain {b} background", "set against a {b} background", "with {b} behind it"),
}
NO_SHAPE_WORDS = ("shape", "object", "thing")  # when a prompt leaves the shape to the model

# Image-prompt frames around the description {d}.
PROMPT_FRAMES = {
    "train": ("{d}", "draw {d}", "please draw {d}", "paint {d}", "generate an image of {d}",
              "generate a picture of {d}", "make an image of {d}", "create {d}", "can you draw {d}", "an image of {d}",
              "a picture of {d}", "render {d}", "show {d}", "I want {d}", "give me {d}", "{d}, please",
              "sketch {d}", "produce an image with {d}", "a drawing of {d}", "can you paint {d}",
              "draw me {d}", "an illustration of {d}", "picture {d}", "make {d}"),
    "heldout": ("I'd like to see {d}", "could you make me a picture of {d}", "show me {d}",
                "please create an image showing {d}", "illustrate {d}", "depict {d}"),
}

# Questions about an image: kind -> templates. {shape}, {color}, {region} are filled from the scene.
QUESTIONS = {
    "train": {
        "color": ("What color is the {shape}?", "What colour is the {shape}?", "what color is the {shape}",
                  "Which colour is the {shape}?", "What's the color of the {shape}?", "The {shape} is what colour?",
                  "Tell me the color of the {shape}.", "color of the {shape}?",
                  # v2 (run 14): plural nouns and "picture" in every kind, so no word alone names the kind
                  "Of the shapes in the image, what colour is the {shape}?", "Looking at the objects, which color is "
                  "the {shape}?", "In this picture, what colour has the {shape}?"),
        "shape": ("What shape is the {color} object?", "which shape is {color}", "What is the {color} shape?",
                  "What kind of shape is {color}?", "Which shape is {color}?", "What is the {color} thing?",
                  "the {color} one is which shape?", "Name the {color} shape.",
                  "Looking at the shapes, what is the {color} one?", "Among the objects, which shape is {color}?",
                  "What shape is coloured {color}?", "The {color} colour belongs to which shape?",
                  "Of all the things in the picture, what shape is {color}?"),
        "position": ("Where is the {shape}?", "Where's the {color} {shape}?", "where is the {color} one",
                     "In which part of the image is the {shape}?", "Where is the {shape} located?",
                     "Where can I find the {shape}?", "Where among the shapes is the {shape}?",
                     "Where in the picture is the {color} object?"),
        "size": ("What size is the {shape}?", "Is the {shape} small or large?", "How big is the {shape}?",
                 "is the {color} {shape} large or small", "Among the shapes, how big is the {shape}?"),
        "count": ("How many shapes are there?", "how many objects are in the image", "Count the shapes.",
                  "How many shapes do you see?", "Number of shapes?", "How many are there?",
                  "How many items are drawn?", "How many do you see in the image?"),
        "background": ("What color is the background?", "What's the background colour?",
                       "which colour is the background", "What is the color of the background?",
                       "What colour is the background of the shapes?", "The objects are on what colour?",
                       "Which color is the picture's background?"),
        "exists": ("Is there a {color} {shape}?", "Do you see a {color} {shape}?", "is there a {color} {shape} here",
                   "Does the image contain a {color} {shape}?", "Among the shapes, is there a {color} {shape}?",
                   "Is one of the objects a {color} {shape}?"),
        "region": ("Is the {shape} {region}?", "is the {color} {shape} {region}", "Is the {shape} located {region}?",
                   "Among the shapes, is the {shape} {region}?"),
        "caption": ("Describe the image.", "Describe this image.", "What's in this picture?", "What do you see?",
                    "describe the picture", "What is shown in the image?", "Caption this image.",
                    "Describe the shapes in this image."),
    },
    "heldout": {
        "color": ("Could you tell me the colour of the {shape}?", "what colour does the {shape} have"),
        "shape": ("Which of the shapes is {color}?", "what shape has the colour {color}"),
        "position": ("Whereabouts is the {shape}?", "Tell me where the {shape} is."),
        "size": ("Would you say the {shape} is small or large?",),
        "count": ("How many shapes can you count?", "how many things are in this picture"),
        "background": ("Tell me the colour of the background.", "what colour is behind the shapes"),
        "exists": ("Can you see a {color} {shape}?", "Is a {color} {shape} in the picture?"),
        "region": ("Would you say the {shape} is {region}?",),
        "caption": ("Please describe this picture.", "What does this image show?"),
    },
}
# Regions for yes/no position questions: words -> the cells they cover.
REGIONS = {"on the left": (0, 3, 6), "on the right": (2, 5, 8), "at the top": (0, 1, 2), "at the bottom": (6, 7, 8),
           "in the center": (4,), "in the middle": (4,)}

# Text-only chat.
EXAMPLE = "a red circle on a blue background"
REPLIES = {
    "greeting": "Hello! I am a small demo model: I know circles, squares and triangles in nine colours on a plain "
                f"background. Try: {EXAMPLE}.",
    "capability": "I am a small demo model. I only know circles, squares and triangles in red, green, blue, yellow, "
                  "purple, orange, white, gray and black, on a plain background: I draw them, answer questions about "
                  f"such images and describe them. Try: {EXAMPLE}.",
    "outside": "Sorry, I only know circles, squares and triangles in nine colours on a plain background, so I cannot "
               f"help with that. Try: {EXAMPLE}.",
}
GREETINGS = {"train": ("hello", "hi", "hey", "hello there", "hi there", "good morning", "good evening", "hey there",
                       "greetings", "howdy", "yo"),
             "heldout": ("good afternoon", "hiya", "hello, model")}
CAPABILITY = {"train": ("what can you do", "who are you", "help", "what do you know", "what are you",
                        "how does this work", "what can I ask you", "what are you able to draw", "tell me about yourself",
                        "what is this", "what can you draw"),
              "heldout": ("what are you good at", "what should I ask", "introduce yourself")}
DESCRIBE_FRAMES = {"train": ("describe {d}", "what does {d} look like", "tell me about {d}", "what is {d}",
                             "explain {d}", "describe {d} to me"),
                   "heldout": ("can you describe {d}", "how would you describe {d}")}
DRAW_IN_CHAT = ("draw {d}", "paint {d}", "generate an image of {d}", "make a picture of {d}")
SHAPE_DEFINITIONS = {"circle": "a round shape", "square": "a shape with four equal sides and four right angles",
                     "triangle": "a shape with three straight sides"}
# Out-of-world requests: task frames x topics. The held-out topics (the examples among them) are never
# trained on: the model has to refuse anything that is not about its world, not a list of known topics.
OUTSIDE_FRAMES = {"train": ("write a story about {t}", "tell me a joke about {t}", "explain {t}", "what is {t}",
                            "draw {t}", "generate an image of {t}", "paint {t}", "{t}", "a {c} {n}", "draw a {c} {n}",
                            "who invented {t}", "how do I cook {t}", "translate {t} into French",
                            "summarize {t}", "write code for {t}", "give me facts about {t}", "is {t} dangerous",
                            "where can I buy {t}", "a picture of a {c} {n}"),
                  "heldout": ("write a poem about {t}", "compose a song about {t}", "what do you think of {t}",
                              "a {c} {n}, please")}
OUTSIDE_NOUNS = {
    "train": ("dog cat horse car house tree flower bird fish boat train plane apple banana city mountain river "
              "lake forest cloud sun moon star planet robot computer phone book chair table door window lamp cup "
              "bottle shoe hat shirt guitar piano violin drum ball kite clock key knife spoon bread cake pizza "
              "coffee tea milk water fire snow rain storm castle bridge road tower garden beach desert island "
              "volcano cow sheep pig duck owl lion tiger bear wolf fox rabbit mouse elephant giraffe zebra monkey "
              "dragon unicorn ghost wizard king queen knight pirate ninja teacher doctor farmer baby friend "
              "history music football tennis chess war peace love money time math physics chemistry biology "
              "weather school office hospital museum library rocket satellite bus truck tractor helicopter "
              "submarine camera television radio battery engine wheel ladder hammer bucket pillow blanket").split(),
    "heldout": ("bicycle sea poem France ocean umbrella sandwich penguin laptop").split(),
}


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _cell_phrase(cell: str, rng: np.random.Generator) -> str:
    words = _choice(rng, CELL_WORDS[cell])
    if cell in ("top left", "top right", "bottom left", "bottom right") and rng.random() < 0.3:
        return f"in the {words} corner"
    if cell == "center" and rng.random() < 0.3:
        return _choice(rng, ("centered", "in the middle"))
    return _choice(rng, POSITION_PHRASES).format(p=words)


def shape_phrase(s: world.Shape, mention: dict, rng: np.random.Generator) -> str:
    """One shape: [article] [size] [colour] shape-word [position], each part only if `mention` says so."""
    color = _choice(rng, COLOR_WORDS[s.color]) if mention["color"] else ""
    noun = s.shape if mention["shape"] else _choice(rng, NO_SHAPE_WORDS)
    words = [w for w in (s.size if mention["size"] else "", color, noun) if w]
    if mention["color"] and mention["shape"] and not mention["size"] and rng.random() < 0.1:
        words = [noun, "in", color]  # "a circle in red"
    head = " ".join(words)
    if rng.random() < 0.85:
        head = f"{_article(head)} {head}"
    if mention["position"]:
        head += " " + _cell_phrase(s.position, rng)
    return head


def describe(scene: Scene, rng: np.random.Generator, split: str, mention: dict | None = None) -> tuple[str, dict]:
    """A description of the scene and what it states: {"color", "shape", "size", "position"} per shape (lists)
    and "background" (bool). `mention` forces those choices (same layout); by default each part is left out now
    and then, so short prompts ("a red circle", "red circle on blue") are as common as full ones."""
    if mention is None:
        mention = {"shapes": [{"color": rng.random() < 0.9, "shape": rng.random() < 0.9, "size": rng.random() < 0.45,
                               "position": rng.random() < 0.75} for _ in scene.shapes],
                   "background": rng.random() < 0.6}
    parts = [shape_phrase(s, m, rng) for s, m in zip(scene.shapes, mention["shapes"])]
    if len(parts) == 1:
        text = parts[0]
    else:
        text = ", ".join(parts[:-1]) + _choice(rng, (" and ", ", and ", ", ")) + parts[-1]
        if rng.random() < 0.3:
            text = f"{_choice(rng, ('two', 'three')[len(parts) - 2:len(parts) - 1])} shapes: {text}"
    if mention["background"]:
        phrase = _choice(rng, BACKGROUND_PHRASES[split])
        bg = phrase.format(b=_choice(rng, COLOR_WORDS[scene.background]))
        if phrase == "{b} background":
            text = f"{text}, {bg}"
        elif phrase.startswith(("on ", "against ")) and rng.random() < 0.15:
            text = f"{bg}, {text}"
        else:
            text = f"{text} {bg}"
    return text, mention


def surface(text: str, rng: np.random.Generator, question: bool = False) -> str:
    """What people type: case, trailing punctuation, "please"."""
    text = text.rstrip("?.!")
    if rng.random() < 0.1:
        text = f"please {text[0].lower()}{text[1:]}" if rng.random() < 0.5 else f"{text}, please"
    text = re.sub(r"\ba ([aeiou])", r"an \1", text)
    r = rng.random()
    if r < 0.55:
        text = text[0].upper() + text[1:]
    elif r < 0.6:
        text = text.upper()
    text = text.rstrip("?.!")
    end = _choice(rng, ("?", "?", "") if question else (".", "", "", "!"))
    return text + end


def prompt(scene: Scene, rng: np.random.Generator, split: str = "train") -> tuple[str, dict]:
    """An image prompt for the scene (frame + description + surface) and what it states (see describe)."""
    d, mention = describe(scene, rng, split)
    return surface(_choice(rng, PROMPT_FRAMES[split]).format(d=d), rng), mention


FULL = {"color": True, "shape": True, "size": False, "position": True}


def eval_prompt(scene: Scene, index: int, phrasing: str = "heldout") -> str:
    """The text -> image prompt of a one-shape scene for evaluation: colour, shape, cell and background always
    stated (the oracle judges all four), in the frames and phrasings of language split `phrasing` (held-out to
    report; the training split's tell a drawing failure from a reading one)."""
    rng = world.scene_rng("heldout", 10**8 + index)
    mention = {"shapes": [dict(FULL, size=rng.random() < 0.5) for _ in scene.shapes], "background": True}
    d, _ = describe(scene, rng, phrasing, mention)
    return surface(_choice(rng, PROMPT_FRAMES[phrasing]).format(d=d), rng)


def caption(scene: Scene) -> str:
    """The canonical caption: the answer to "Describe the image." (exact, so it can be checked)."""
    return scene.caption()


def questions(scene: Scene, rng: np.random.Generator, split: str = "train") -> list[tuple[str, str, str]]:
    """Every (kind, question, answer) the scene supports, each question in one of the split's phrasings."""
    t = QUESTIONS[split]

    def ask(kind: str, **slots) -> str:
        return surface(_choice(rng, t[kind]).format(**slots), rng, question=True)

    qa = []
    for s in scene.shapes:
        c = _choice(rng, COLOR_WORDS[s.color])
        qa.append(("color", ask("color", shape=s.shape, color=c), s.color))
        qa.append(("shape", ask("shape", shape=s.shape, color=c), s.shape))
        qa.append(("position", ask("position", shape=s.shape, color=c), s.position))
        qa.append(("size", ask("size", shape=s.shape, color=c), s.size))
        region = _choice(rng, list(REGIONS))
        qa.append(("region", ask("region", shape=s.shape, color=c, region=region),
                   "yes" if s.cell in REGIONS[region] else "no"))
    qa.append(("count", ask("count"), str(len(scene.shapes))))
    qa.append(("background", ask("background"), scene.background))
    # One yes and one no per scene, so "is there" is balanced.
    present = {(s.color, s.shape) for s in scene.shapes}
    s = scene.shapes[int(rng.integers(len(scene.shapes)))]
    qa.append(("exists", ask("exists", color=_choice(rng, COLOR_WORDS[s.color]), shape=s.shape), "yes"))
    while True:
        c, sh = _choice(rng, list(COLORS)), _choice(rng, SHAPES)
        if (c, sh) not in present:
            break
    qa.append(("exists", ask("exists", color=c, shape=sh), "no"))
    qa.append(("caption", ask("caption"), caption(scene)))
    return qa


def text_chat(rng: np.random.Generator, split: str = "train") -> tuple[str, str, str]:
    """One text-only request and its reply: (kind, request, reply). Kinds: greeting, capability, describe (a shape
    of the world, described), draw (asked to draw in chat: says how), outside (anything else: an honest refusal
    with an example prompt)."""
    kind = _choice(rng, ("greeting", "capability", "describe", "describe", "draw", "outside", "outside", "outside"))
    if kind == "greeting":
        return kind, surface(_choice(rng, GREETINGS[split]), rng), REPLIES["greeting"]
    if kind == "capability":
        return kind, surface(_choice(rng, CAPABILITY[split]), rng, question=True), REPLIES["capability"]
    if kind in ("describe", "draw"):
        full = world.sample_scene(rng, count=1)
        mention = {"shapes": [{"color": True, "shape": True, "size": rng.random() < 0.3,
                               "position": rng.random() < 0.3}], "background": rng.random() < 0.3}
        d, mention = describe(full, rng, split, mention)
        m = mention["shapes"][0]
        said = full.caption(with_size=m["size"], with_background=mention["background"])
        if not m["position"]:
            said = said.replace(f" at the {full.shapes[0].position}", "")
        if kind == "draw":
            reply = f'I draw pictures from image prompts, not in chat: send "{said}" as an image prompt.'
            return kind, surface(_choice(rng, DRAW_IN_CHAT).format(d=d), rng), reply
        s = full.shapes[0]
        reply = f"{said[0].upper()}{said[1:]} is {SHAPE_DEFINITIONS[s.shape]}, filled with {s.color}."
        return kind, surface(_choice(rng, DESCRIBE_FRAMES[split]).format(d=d), rng, question=True), reply
    nouns = OUTSIDE_NOUNS[split]
    n = _choice(rng, nouns)
    topic = f"{_choice(rng, ('the ', 'a ', ''))}{n}" if rng.random() < 0.8 else f"the {n} and the {_choice(rng, nouns)}"
    frame = _choice(rng, OUTSIDE_FRAMES[split])
    request = frame.format(t=topic, c=_choice(rng, list(COLORS)), n=n)
    return kind, surface(request, rng, question=rng.random() < 0.5), REPLIES["outside"]


def clip_text(scene: Scene, rng: np.random.Generator) -> str:
    """A text for the tokenizer's contrastive loss: a description in the prompt grammar, the canonical caption, or
    a view of one shape in the zero-shot templates' words ("a photo of a circle", "a photo of a red shape"), so the
    CLIP side learns those directly. Texts that are the same string count as positives of each other."""
    s = scene.shapes[int(rng.integers(len(scene.shapes)))]
    r = rng.random()
    if r < 0.25:
        return describe(scene, rng, "train")[0]
    if r < 0.35:
        return caption(scene)
    views = (world.ZEROSHOT_TEMPLATES["shape"].format(s.shape), world.ZEROSHOT_TEMPLATES["color"].format(s.color),
             f"a photo of a {s.color} {s.shape}", f"a {s.color} {s.shape}", f"a {s.shape}")
    return views[int(rng.integers(len(views)))]
