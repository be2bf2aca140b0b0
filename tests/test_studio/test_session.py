"""projector.studio without a browser: renders, the edit state and undo, projection, exports, tuned latents."""

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from projector.edits import apply_direction, parse_layers
from projector.latent_file import load_latent
from projector.studio import ProjectionOptions, StudioBusyError, StudioSession, safe_name
from stylegan2_core import InputError, to_uint8, z_from_seeds

ROOT = Path(__file__).parents[2]
WORLD_FACE = ROOT / "examples" / "data" / "world_face.png"


def test_seed_render_is_the_generators_image(session, demo_network):
    G = demo_network.G
    session.start_from_seed(7)
    with torch.no_grad():
        expected = to_uint8(G.synthesis(G.mapping(z_from_seeds([7], G.z_dim), None), noise_mode="const"))[0]
    np.testing.assert_array_equal(session.render(), expected)


def test_slider_edit_is_apply_direction_in_sigma_units(session, demo_network):
    d = demo_network.direction("sefa:1")
    base = session.edited_ws()
    session.update({"edits": {"sefa:1": {"value": 1.5, "layers": "coarse"}}})
    coarse = parse_layers("coarse", demo_network.G.num_ws)
    torch.testing.assert_close(session.edited_ws(), apply_direction(base, d.vector, 1.5 * d.sigma, coarse))
    changed = (session.edited_ws() - base).abs().sum(-1)[0] > 0
    assert changed.nonzero().flatten().tolist() == coarse
    assert d.sigma > 0


def test_commit_undo_and_rendered_change(session):
    before = session.render()
    session.update({"edits": {"sefa:0": {"value": 1.0}}}, commit=False)  # a drag in progress
    session.update({"edits": {"sefa:0": {"value": 2.5}}}, commit=True)  # released
    assert session.info()["undo"] == 1
    edited = session.render()
    assert np.abs(edited.astype(int) - before).mean() > 2
    session.update({"truncation": 0.5}, commit=True)
    assert session.undo()["edits"]["sefa:0"]["value"] == 2.5
    assert session.undo() == {"edits": {}, "truncation": 1.0, "mix": None, "mix_layers": "coarse", "noise": True}
    np.testing.assert_array_equal(session.render(), before)
    session.update({"edits": {"sefa:0": {"value": 0}}}, commit=True)  # a no-op is not an undo step
    assert session.info()["undo"] == 0


def test_truncation_and_style_mixing(session, demo_network):
    G = demo_network.G
    session.update({"truncation": 0.0})
    torch.testing.assert_close(session.edited_ws(), G.mapping.w_avg.reshape(1, 1, -1).expand(1, G.num_ws, -1))
    session.update({"truncation": 1.0, "mix": {"seed": 3}, "mix_layers": "fine"})
    with torch.no_grad():
        other = G.mapping(z_from_seeds([3], G.z_dim), None)
    fine = parse_layers("fine", G.num_ws)
    torch.testing.assert_close(session.edited_ws()[0, fine], other[0, fine])
    with pytest.raises(InputError, match="second latent"):
        session.update({"mix": {}})


def test_latent_files_open_and_mix(session, demo_network, tmp_path):
    from projector.studio import StudioSession

    session.start_from_seed(2)
    session.update({"edits": {"sefa:0": {"value": 1.0}}, "noise": False})
    latent, _ = session.export_latent()
    other = StudioSession([demo_network], tmp_path / "other")
    assert other.start_from_latent(latent) == {"latents": 1, "warning": None, "tuned": False}
    other.update({"noise": False})
    np.testing.assert_array_equal(other.render(), session.render())
    other.start_from_seed(9)
    other.set_mix_latent(latent)
    other.update({"mix": {}, "mix_layers": "0-2"})
    torch.testing.assert_close(other.edited_ws()[0, :3], session.edited_ws()[0, :3])


@pytest.mark.parametrize("changes, message", [
    ({"edits": {"nope:0": {"value": 1}}}, "no 'nope' directions"),
    ({"edits": {"sefa:0": {"value": 50}}}, "out of range"),
    ({"edits": {"sefa:0": {"value": 1, "layers": "0-99"}}}, "out of range"),
    ({"truncation": 7}, "truncation"),
    ({"truncation": "nan"}, "truncation"),
    ({"colour": 1}, "unknown setting"),
    ({"edits": {"sefa:0": {"value": "abc"}}}, "not a number"),
    ({"edits": {"sefa:0": 3}}, "edits must map"),
    ({"mix": {"seed": -1}}, "mixing seed -1 out of range"),
    ({"mix": [1]}, "mix must be"),
])
def test_bad_edits_are_input_errors_and_leave_the_state(session, changes, message):
    state = session.info()["state"]
    with pytest.raises(InputError, match=message):
        session.update(changes)
    assert session.info()["state"] == state


def test_thumbnails_strip(session, demo_network):
    session.update({"edits": {"sefa:1": {"value": 2.0}}})
    strip = session.thumbnails("sefa:0")
    R = demo_network.G.img_resolution
    assert strip.shape == (R, 5 * R, 3)
    np.testing.assert_array_equal(strip[:, 2 * R:3 * R], session.render(before=True))  # the middle cell: unedited
    assert np.abs(strip[:, :R].astype(int) - strip[:, 4 * R:]).mean() > 2


def test_world_attribute_directions_fit_once_and_cached(demo_network, tmp_path, monkeypatch):
    from projector.studio import StudioNetwork
    from projector.world import ATTRIBUTE_NAMES

    net = StudioNetwork("demo", demo_network.G, world_samples=32, cache_dir=tmp_path)
    found = net.directions("world")
    assert [d.name for d in found] == list(ATTRIBUTE_NAMES)
    assert all(abs(float(d.vector.norm()) - 1) < 1e-4 and d.sigma > 0 and 0 <= d.value <= 1 for d in found)
    assert [p.name for p in tmp_path.iterdir()] == [f"world-{demo_network.G.checkpoint.model_id[:16]}-32.npz"]

    again = StudioNetwork("demo", demo_network.G, world_samples=32, cache_dir=tmp_path)
    monkeypatch.setattr(again, "_fit_world", lambda: pytest.fail("refitted although cached"))
    cached = again.directions("world")
    for a, b in zip(found, cached):
        torch.testing.assert_close(a.vector, b.vector)
        assert a.id == b.id and a.sigma == pytest.approx(b.sigma, rel=1e-5) and a.value == b.value


def test_direction_files_and_networks_the_studio_refuses(demo_network, tmp_path):
    from projector.edits import DirectionSet, save_directions, sefa
    from projector.studio import StudioNetwork
    from stylegan2_core import load_generator

    save_directions(tmp_path / "mine.npz", sefa(demo_network.G, [0, 1], 2))
    net = StudioNetwork("demo", demo_network.G, [tmp_path / "mine.npz"])
    assert net.groups() == ["sefa", "pca", "world", "files"]
    assert [(d.id, d.layers) for d in net.directions("files")] == [("file0:0", [0, 1]), ("file0:1", [0, 1])]
    save_directions(tmp_path / "wide.npz", DirectionSet(torch.ones(1, 512), ["x"], "file"))
    with pytest.raises(InputError, match="w_dim 512"):
        StudioNetwork("demo", demo_network.G, [tmp_path / "wide.npz"])
    assert "world" not in StudioNetwork("other", demo_network.G).groups()
    with pytest.raises(InputError, match="conditional"):
        StudioNetwork("cond", load_generator(ROOT / "tests" / "fixtures" / "ada_tiny_cond.pkl"))


def test_projection_options_follow_the_presets():
    from projector import DEFAULT_PRESET, ProjectorConfig

    assert ProjectionOptions().config() == ProjectorConfig.preset(DEFAULT_PRESET)
    assert (ProjectionOptions(preset="official", steps=30, space="w+", noise="fixed").config() ==
            ProjectorConfig.preset("official", steps=30, space="w+", optimize_noise=False))
    with pytest.raises(InputError, match="preset"):
        ProjectionOptions(preset="turbo").config()
    # tuning starts from PTI's W pivot unless a space is asked for
    assert ProjectionOptions(tune=True).config().space == "w"
    assert ProjectionOptions(tune=True, space="w+").config().space == "w+"


def test_projection_progress_stop_and_busy(session, monkeypatch):
    """A run stopped from its progress callback keeps the latent of its last step (a full run: browser test)."""
    import projector.studio.projection as projection

    steps = []  # what projector.project reported at each step

    def recording_project(*args, callback, **kwargs):
        return project(*args, callback=lambda s: (steps.append(s), callback(s)), **kwargs)

    project = projection.project
    monkeypatch.setattr(projection, "project", recording_project)
    session.load_photo(WORLD_FACE)
    updates = []

    def stop_after_two(u):
        updates.append(u)
        if len(updates) == 2:
            session.slot.stop.set()

    report = session.project(ProjectionOptions(steps=50, loss="effnet"), progress=stop_after_two, every=1)
    assert [u.step for u in updates] == [1, 2] and updates[0].image.shape == (64, 64, 3)
    assert report["stopped"] and report["steps"] == 2 and session.info()["projected"]
    assert len(steps) == 2  # stopped right after the step that asked: no further step ran
    assert torch.equal(session.base.ws, steps[-1].ws)  # the best start's latent after its last step
    assert all(torch.equal(a, b) for a, b in zip(session.base.noise, steps[-1].noise, strict=True))
    assert not session.slot.busy

    session.slot.acquire("another tab")
    try:
        with pytest.raises(StudioBusyError):
            session.project(ProjectionOptions(steps=2, loss="effnet"))
        session.start_from_seed(3)  # another tab's projection does not stop this one from editing
    finally:
        session.slot.release()
    session.slot.acquire(session.sid)  # while its own projection runs, what a session edits stays put
    try:
        for change in (lambda: session.start_from_seed(4), lambda: session.load_photo(WORLD_FACE),
                       lambda: session.select_network(0)):
            with pytest.raises(StudioBusyError, match="press Stop"):
                change()
    finally:
        session.slot.release()


def test_projection_with_pivotal_tuning(session, tmp_path):
    from projector.tuned_file import read_tuned, recorded_tuned_file, tuned_generator
    from stylegan2_core.fileio import sha256_file

    session.load_photo(WORLD_FACE)
    updates = []
    report = session.project(ProjectionOptions(preset="official", steps=2, loss="effnet", tune=True, tune_steps=2),
                             progress=updates.append, every=1)
    assert [(u.phase, u.step, u.image is None) for u in updates] == [
        ("project", 1, False), ("project", 2, False), ("tune", 1, True), ("tune", 2, True)]
    assert report["tuning"]["steps"] == 2 and session.info()["tuned"]
    assert session.G is not session.net.G  # every edit of this image renders with the tuned generator
    latent, _, tuned = session.export_latent()
    assert tuned.name.endswith(".tuned.safetensors") and read_tuned(tuned)[1]["kind"] == "tuned"
    edited = session.render()

    # the CLI reads the studio's tuned entry: `s2edit edit/mix/video` render the export with its tuned file
    G, note = tuned_generator(session.net.G, [latent])
    assert G is not session.net.G and tuned.name in note
    assert recorded_tuned_file(latent) == (tuned, sha256_file(tuned))
    session.start_from_seed(1)
    assert session.G is session.net.G

    # another session opening the export (the tuned file beside it) draws it with the tuned generator
    other = StudioSession([session.net], tmp_path / "other")
    assert other.start_from_latent(latent) == {"latents": 1, "warning": None, "tuned": True}
    np.testing.assert_array_equal(other.render(), edited)

    # a latent alone (an upload: its tuned file is not beside it) is flagged, then the tuned file completes it
    alone = tmp_path / "alone" / latent.name
    alone.parent.mkdir()
    alone.write_bytes(latent.read_bytes())
    info = other.start_from_latent(alone)
    assert not info["tuned"] and other.G is other.net.G
    assert info["warning"] == f"{latent.stem} was projected with pivotal tuning: drawn with the base network " \
                              f"until its tuned file {tuned.name} is opened too"
    assert other.open_file(tuned) == {"latents": 0, "warning": None, "tuned": True}
    np.testing.assert_array_equal(other.render(), edited)
    with pytest.raises(InputError, match="open the latent projected with it first"):
        other.open_tuned(tuned)  # already attached: nothing asks for it any more

    # a tuned entry naming a file in another folder is refused (an upload cannot reach the server's files)
    from stylegan2_core.fileio import read_safetensors, write_safetensors

    tensors, meta = read_safetensors(latent)
    write_safetensors(alone, tensors, {**meta, "tuned": {"file": f"../{tuned.parent.name}/{tuned.name}",
                                                         "sha256": sha256_file(tuned)}})
    with pytest.raises(InputError, match="outside the latent's folder"):
        other.start_from_latent(alone)


def test_photo_with_face_alignment(session, tmp_path):
    import skimage.data

    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), skimage.data.astronaut()[..., ::-1])
    info = session.load_photo(photo, align=True)
    assert info["source_size"] == [512, 512] and len(info["landmarks"]) == 5
    assert all(0 <= x < 512 and 0 <= y < 512 for x, y in info["landmarks"])
    assert session.target.shape == (1, 3, 64, 64) and session.info()["has_target"]


def test_a_session_picks_among_the_servers_networks(demo_network, tmp_path):
    from projector.studio import StudioNetwork
    from stylegan2_core import load_generator

    tiny = StudioNetwork("tiny", load_generator(ROOT / "tests" / "fixtures" / "ada_tiny.pkl"), k=2)
    session = StudioSession([demo_network, tiny], tmp_path)
    session.select_network(1)
    R = tiny.G.img_resolution
    assert session.render().shape == (R, R, 3) and tiny.groups() == ["sefa", "pca"]
    session.update({"edits": {"sefa:1": {"value": 1.0}}})
    assert session.edited_ws().shape == (1, tiny.G.num_ws, tiny.G.w_dim)
    with pytest.raises(InputError, match="out of range"):
        session.select_network(2)


def test_project_needs_a_photo(session):
    with pytest.raises(InputError, match="load a photo"):
        session.project(ProjectionOptions(steps=2))


def test_exports_roundtrip_and_never_overwrite(session, demo_network, tmp_path):
    session.start_from_seed(5)
    session.update({"edits": {"sefa:2": {"value": -2.0}}, "truncation": 0.8})
    latent, npz = session.export_latent()
    assert latent.parent == session.outdir and latent.name == "seed5-1.safetensors"
    record = load_latent(latent, demo_network.G)
    torch.testing.assert_close(record.ws, session.edited_ws())
    assert record.meta["studio_state"]["truncation"] == 0.8
    torch.testing.assert_close(load_latent(npz, demo_network.G).ws, session.edited_ws())
    (png,) = session.export_png()
    assert png.name == "seed5-1.png"
    np.testing.assert_array_equal(cv2.imread(str(png))[..., ::-1], session.render())
    assert session.export_latent()[0].name == "seed5-2.safetensors"
    with pytest.raises(InputError, match="move a slider"):
        StudioSession([demo_network], tmp_path).export_video()
    session.update({"edits": {"sefa:2": {"value": 1.0}}}, commit=True)
    (video,) = session.export_video(frames_per_step=3)
    assert video.suffix == ".mp4" and video.stat().st_size > 0
    assert sorted(p.name for p in session.outdir.iterdir()) == sorted(p.name for p in session.exports)


def test_latent_for_another_network_is_refused(session, tmp_path):
    from projector.latent_file import save_latent

    save_latent(tmp_path / "big.safetensors", torch.zeros(1, 18, 512))
    with pytest.raises(InputError, match="w_dim 512"):
        session.start_from_latent(tmp_path / "big.safetensors")


@pytest.mark.parametrize("text, expected", [("../../etc/passwd", "passwd"), ("a b/..\\c.png", "c"),
                                            ("", "image"), ("..", "image"), ("Face 01.JPG", "Face_01")])
def test_safe_names(text, expected):
    assert safe_name(text) == expected


def _tiny_encoder(G, seed: int = 0):
    """A freshly initialised encoder for ``G`` with random head biases (an answer other than w_avg)."""
    from projector.encoder import Encoder, EncoderConfig

    encoder = Encoder(EncoderConfig(resolution=G.img_resolution, num_ws=G.num_ws, w_dim=G.w_dim,
                                    working_resolution=G.img_resolution, channel_base=256, channel_max=32, blocks=1,
                                    head_channels=32, passes=2)).eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    for head in encoder.heads.values():
        head.bias.copy_(0.3 * torch.randn(head.bias.shape, generator=gen))
    return encoder


def test_dropped_photo_shows_the_instant_inversion_and_project_refines_it(tmp_path, monkeypatch):
    import projector.studio.projection as projection
    from projector.studio import StudioNetwork
    from stylegan2_core import load_generator

    G = load_generator(ROOT / "tests" / "fixtures" / "ada_tiny.pkl")
    encoder = _tiny_encoder(G)
    session = StudioSession([StudioNetwork("tiny", G, k=2, encoder=encoder)], tmp_path)
    session.load_photo(WORLD_FACE)
    inverted = encoder.invert(session.target, G)
    assert torch.equal(session.base.ws, inverted) and session.info()["instant"]
    with torch.no_grad():
        expected = to_uint8(G.synthesis(inverted, noise_mode="const"))[0]
    assert np.array_equal(session.render(), expected)

    steps, used = [], {}

    def recording_project(*args, callback, **kwargs):
        used.update(kwargs)
        return project(*args, callback=lambda s: (steps.append(s), callback(s)), **kwargs)

    project = projection.project
    monkeypatch.setattr(projection, "project", recording_project)
    report = session.project(ProjectionOptions(steps=20, loss="effnet"), progress=lambda u: session.slot.stop.set(),
                             every=1)
    assert used["encoder"] is encoder and report["stopped"] and report["steps"] == 1
    # the first step's learning rate is 0: its latent is the start, the mean over layers of the encoder's ws
    assert torch.equal(steps[0].ws, inverted.mean(dim=1, keepdim=True).expand(-1, G.num_ws, -1))
    assert not session.info()["instant"]


def test_studio_encoders_per_network(tmp_path, monkeypatch):
    import projector.encoder.registry as registry
    from projector.encoder import save_encoder, studio_encoders
    from stylegan2_core import load_generator, model_id

    monkeypatch.setattr(registry, "ENCODER_ASSETS", tmp_path / "assets")
    tiny = load_generator(ROOT / "tests" / "fixtures" / "ada_tiny.pkl")
    other = load_generator(ROOT / "tests" / "fixtures" / "tf_tiny.pkl")
    assert studio_encoders(None, [tiny, other]) == [None, None]
    path = save_encoder(tmp_path / "enc.safetensors", _tiny_encoder(tiny), model_id(tiny))
    found = studio_encoders(path, [other, tiny])
    assert found[0] is None and found[1] is not None
    assert studio_encoders("none", [tiny]) == [None]
    with pytest.raises(InputError, match="none of the --network ones"):
        studio_encoders(path, [other])
    save_encoder(tmp_path / "assets" / f"encoder-{model_id(tiny)[:12]}.safetensors", _tiny_encoder(tiny), model_id(tiny))
    assert studio_encoders(None, [other, tiny])[1] is not None
