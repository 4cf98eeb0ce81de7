"""The demo's synthetic world: seeded splits, one palette, rendering, the CLIP side's BPE ids, and the
text-to-image oracle (it must pass the truth and fail wrong colours, positions, shapes and backgrounds)."""
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
        assert scene.background not in {s.color for s in scene.shapes}
        for s in scene.shapes:
            cx, cy = world.cell_centre(s.cell)
            assert abs(s.cx - cx) <= world.JITTER and abs(s.cy - cy) <= world.JITTER
    assert set(counts) == {1, 2, 3}


def test_one_palette_of_nine_colours_for_shapes_and_backgrounds():
    assert len(world.COLORS) >= 9 and world.BACKGROUNDS is world.COLORS
    scenes = [world.make_scene("train", i) for i in range(600)]
    assert {s.background for s in scenes} == set(world.COLORS)
    assert {sh.color for s in scenes for sh in s.shapes} == set(world.COLORS)


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


def test_captions():
    one = world.Scene("gray", (world.Shape("circle", "orange", "large", 0, 21.0, 21.0),))
    assert one.caption() == "a large orange circle at the top left on a gray background"
    assert one.caption(with_size=False, with_background=False) == "an orange circle at the top left"


def test_clip_ids_are_open_clip_bpe_for_the_demo_text_tower():
    cfg = get_tokenizer_config("demo")
    assert (cfg.text_vocab_size, cfg.text_context_length) == (49408, 77)
    texts = [world.make_scene("train", i).caption() for i in range(50)]
    ids = world.clip_tokenize(texts, cfg.text_context_length)
    # The text tower pools at argmax: that must be the end-of-text token, the highest id, present in every row.
    assert (ids[:, 0] == 49406).all() and (ids.max(1) == 49407).all()
    from unitok.clip_tokenizer import ClipTokenizer

    assert ids.tolist() == ClipTokenizer()(texts).tolist()


def test_oracle_accepts_the_truth_and_rejects_wrong_prompts():
    for i in range(60):
        scene = world.make_scene("heldout", i, count=1)
        s = scene.shapes[0]
        img = world.render(scene)
        verdict = world.judge_single(img, s.color, s.position, s.shape, scene.background)
        assert verdict["ok"] and verdict["shape_ok"] and verdict["background_ok"], (scene, verdict)
        other_shape = next(x for x in world.SHAPES if x != s.shape)
        assert not world.judge_single(img, s.color, s.position, other_shape)["shape_ok"]
        other_bg = next(c for c in world.COLORS if c != scene.background)
        assert not world.judge_single(img, s.color, s.position, background=other_bg)["background_ok"]
        other_color = next(c for c in world.COLORS if c not in (s.color, scene.background))
        assert not world.judge_single(img, other_color, s.position)["ok"]
        other_cell = world.POSITIONS[(s.cell + 4) % 9]
        assert not world.judge_single(img, s.color, other_cell)["ok"]
    background_only = np.zeros((128, 128, 3), np.uint8) + np.uint8(235)
    assert not world.judge_single(background_only, "red", "center")["ok"]
