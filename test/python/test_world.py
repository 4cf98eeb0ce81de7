"""The demo's synthetic world: seeded splits, rendering, captions and answers that match the scene, the CLIP word
vocabulary, and the text-to-image oracle (it must pass the truth and fail wrong colours and positions)."""
import numpy as np
import pytest

from unitok.config import get_tokenizer_config
from unitok.demo import world


def test_scenes_are_seeded_and_splits_differ():
    assert world.make_scene("train", 7) == world.make_scene("train", 7)
    train = [world.make_scene("train", i) for i in range(50)]
    heldout = [world.make_scene("heldout", i) for i in range(50)]
    assert train != heldout
    assert not set(train) & set(heldout)


def test_scene_rules():
    counts = []
    for i in range(300):
        scene = world.make_scene("train", i)
        n = len(scene.shapes)
        counts.append(n)
        assert 1 <= n <= 3
        # Distinct shapes, colours and cells: "the circle" and "the red object" always name one shape.
        for attr in ("shape", "color", "cell"):
            assert len({getattr(s, attr) for s in scene.shapes}) == n
        for s in scene.shapes:
            cx, cy = world.cell_centre(s.cell)
            assert abs(s.cx - cx) <= world.JITTER and abs(s.cy - cy) <= world.JITTER
    assert set(counts) == {1, 2, 3}


def test_render_draws_each_shape_in_its_colour_and_cell():
    for i in range(20):
        scene = world.make_scene("heldout", i)
        img = world.render(scene)
        assert img.shape == (128, 128, 3) and img.dtype == np.uint8
        assert tuple(img[0, 0]) == world.BACKGROUNDS[scene.background] or any(
            abs(s.cx) < 30 and abs(s.cy) < 30 for s in scene.shapes)
        for s in scene.shapes:
            assert tuple(img[int(s.cy), int(s.cx)]) == world.COLORS[s.color]


def test_shape_areas_tell_the_shapes_apart():
    base = dict(color="red", size="large", cell=4, cx=64.0, cy=64.0)
    area = {name: world.shape_mask(world.Shape(shape=name, **base)).sum() for name in world.SHAPES}
    r = world.SIZES["large"]
    assert area["square"] == pytest.approx((2 * r) ** 2, rel=0.02)
    assert area["circle"] == pytest.approx(np.pi * r * r, rel=0.02)
    assert area["triangle"] == pytest.approx(2 * r * r, rel=0.03)


def test_captions_and_answers_match_the_scene():
    rng = np.random.default_rng(0)
    for i in range(100):
        scene = world.make_scene("heldout", i)
        qa = world.questions(scene, rng)
        kinds = {k for k, _, _ in qa}
        assert kinds == {"color", "shape", "position", "size", "count", "background", "exists", "caption"}
        for kind, q, a in qa:
            if kind == "color":
                shape = q.split("the ")[1].rstrip("?")
                assert a == next(s.color for s in scene.shapes if s.shape == shape)
            elif kind == "shape":
                color = q.split("the ")[1].split(" object")[0]
                assert a == next(s.shape for s in scene.shapes if s.color == color)
            elif kind == "count":
                assert a == str(len(scene.shapes))
            elif kind == "exists":
                color, shape = q[len("Is there a "):-1].split(" ")
                assert (a == "yes") == any(s.color == color and s.shape == shape for s in scene.shapes)
        assert sorted(a for k, _, a in qa if k == "exists") == ["no", "yes"]
    one = world.Scene("gray", (world.Shape("circle", "orange", "large", 0, 21.0, 21.0),))
    assert one.caption() == "a large orange circle at the top left on a gray background"
    assert one.caption(with_size=False, with_background=False) == "an orange circle at the top left"


def test_clip_vocabulary_fits_the_demo_text_tower():
    cfg = get_tokenizer_config("demo")
    assert cfg.text_vocab_size == world.CLIP_VOCAB_SIZE
    texts = [world.make_scene("train", i).caption() for i in range(200)]
    ids = world.clip_tokenize(texts, cfg.text_context_length)
    assert (ids != world.CLIP_UNK).all(), "every caption word is in the vocabulary"
    # The text tower pools at argmax: that must be the end-of-text token, the highest id, present in every row.
    assert (ids.max(1) == world.CLIP_EOT).all()
    assert (ids[np.arange(len(ids)), ids.argmax(1)] == world.CLIP_EOT).all()
    assert world.clip_tokenize(["a zebra"], 8).tolist() == [[world.CLIP_SOT, world.CLIP_VOCAB["a"], world.CLIP_UNK,
                                                           world.CLIP_EOT, 0, 0, 0, 0]]


def test_oracle_accepts_the_truth_and_rejects_wrong_prompts():
    for i in range(60):
        scene = world.make_scene("heldout", i, count=1)
        s = scene.shapes[0]
        img = world.render(scene)
        verdict = world.judge_single(img, s.color, s.position, s.shape)
        assert verdict["ok"] and verdict["shape_ok"], (scene, verdict)
        other_color = next(c for c in world.COLORS if c != s.color)
        assert not world.judge_single(img, other_color, s.position)["ok"]
        other_cell = world.POSITIONS[(s.cell + 4) % 9]
        assert not world.judge_single(img, s.color, other_cell)["ok"]
    background_only = np.zeros((128, 128, 3), np.uint8) + np.uint8(120)
    assert not world.judge_single(background_only, "red", "center")["ok"]
