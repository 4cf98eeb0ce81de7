"""The demo's language (unitok/demo/language.py): prompts, questions and chat replies that match the scene, in
many phrasings, and a held-out language split that the training never uses."""
import re

import numpy as np

from unitok.demo import language, world


def test_answers_match_the_scene_in_every_phrasing():
    rng = np.random.default_rng(0)
    for split in language.SPLITS:
        for i in range(100):
            scene = world.make_scene("heldout", i)
            qa = language.questions(scene, rng, split)
            assert {k for k, _, _ in qa} == set(language.QUESTIONS[split])
            for kind, q, a in qa:
                named = [s for s in scene.shapes if re.search(rf"\b{s.shape}\b", q, re.I)] or [
                    s for s in scene.shapes if any(re.search(rf"\b{w}\b", q, re.I) for w in language.COLOR_WORDS[s.color])]
                if kind in ("color", "position", "size", "region"):
                    assert len(named) == 1, q
                    s = named[0]
                    want = {"color": s.color, "position": s.position, "size": s.size}.get(kind)
                    if kind == "region":
                        region = next(r for r in language.REGIONS if r in q.lower())
                        want = "yes" if s.cell in language.REGIONS[region] else "no"
                    assert a == want, (q, a)
                elif kind == "shape":
                    assert a == next(s.shape for s in scene.shapes
                                     if any(re.search(rf"\b{w}\b", q, re.I) for w in language.COLOR_WORDS[s.color]))
                elif kind == "count":
                    assert a == str(len(scene.shapes))
                elif kind == "caption":
                    assert a == scene.caption()
            assert sorted(a for k, _, a in qa if k == "exists") == ["no", "yes"]


def test_prompts_state_only_what_they_mention():
    rng = np.random.default_rng(1)
    for i in range(300):
        scene = world.make_scene("train", i)
        text, mention = language.prompt(scene, rng)
        low = text.lower()
        for s, m in zip(scene.shapes, mention["shapes"]):
            assert (s.shape in low) == m["shape"] or s.shape in low, text
            if m["color"]:
                assert any(w in low for w in language.COLOR_WORDS[s.color]), text
        if mention["background"]:
            assert any(w in low for w in language.COLOR_WORDS[scene.background]), text


def test_the_held_out_language_split_is_never_trained_on():
    for table in (language.PROMPT_FRAMES, language.BACKGROUND_PHRASES, language.GREETINGS, language.CAPABILITY,
                  language.DESCRIBE_FRAMES, language.OUTSIDE_FRAMES, language.OUTSIDE_NOUNS):
        assert not set(table["train"]) & set(table["heldout"])
    for kind, templates in language.QUESTIONS["heldout"].items():
        assert not set(templates) & set(language.QUESTIONS["train"][kind])
    # The issue's own out-of-world examples are held out.
    assert "bicycle" in language.OUTSIDE_NOUNS["heldout"] and "poem" not in " ".join(language.OUTSIDE_FRAMES["train"])


def test_eval_prompts_state_colour_shape_cell_and_background_in_held_out_frames():
    for i in range(40):
        scene = world.make_scene("heldout", 300_000 + i, count=1)
        s = scene.shapes[0]
        text = language.eval_prompt(scene, 300_000 + i).lower()
        assert s.shape in text and any(w in text for w in language.COLOR_WORDS[s.color])
        assert any(w in text for w in language.COLOR_WORDS[scene.background])
        frames = [f.lower().split("{d}")[0] for f in language.PROMPT_FRAMES["heldout"]]
        assert any(text.startswith(f) or text.removeprefix("please ").startswith(f) for f in frames), text


def test_text_chat_replies():
    rng = np.random.default_rng(2)
    kinds = set()
    for _ in range(200):
        kind, request, reply = language.text_chat(rng)
        kinds.add(kind)
        if kind == "outside":
            assert reply == language.REPLIES["outside"] and "Try: " in reply
        if kind == "describe":
            assert reply.endswith(".") and any(s in reply for s in world.SHAPES)
    assert kinds == {"greeting", "capability", "describe", "draw", "outside"}
