"""Published checkpoints by name (releases.py, download.py, `load_official(NAME)`, `convert`),
against a loopback stand-in for the buckets' JSON API (tests/helpers/official_server.py).

The server holds the recorded R18 checkpoints (tests/data/official/) under the name of the
fine-tuned ResNet-50 release: the loader reads the architecture from the weights, so the stand-in
loads as an R18, and its SavedModel has the reference's callable function (a head reading
projection layer 1), as the published ones do. Nothing leaves 127.0.0.1.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from simclr_tf.official import download as dl
from simclr_tf.official import load_official, releases
from tests.helpers import official as helpers
from tests.helpers.official_server import GcsServer, objects_from_folder

NAME = "simclrv2/finetuned_100pct/r50_1x_sk0"
TF2_PREFIX = NAME + "/saved_model/"
TF1_PREFIX = NAME + "/"
DATA = TF1_PREFIX + "model.ckpt-1.data-00000-of-00001"


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    rec = helpers.record("r18_1x_sk0")
    root = tmp_path_factory.mktemp("bucket")
    saved = helpers.write_saved_model_with_function(
        rec["layouts"]["saved_model"], str(root / "sm"), 1
    )
    tf1 = os.path.dirname(helpers.write_checkpoint(rec["layouts"]["tf1"], str(root / "tf1"), "tf1"))
    out = objects_from_folder(saved, releases.TF2_BUCKET, TF2_PREFIX)
    out.update(objects_from_folder(tf1, releases.TF1_BUCKET, TF1_PREFIX))
    # What else a published TF1 folder holds, which the loader does not need.
    for extra in ("checkpoint", "graph.pbtxt", "model.ckpt-1.meta", "hub/saved_model.pb"):
        out[(releases.TF1_BUCKET, TF1_PREFIX + extra)] = b"not needed"
    return out


@pytest.fixture
def server(objects, monkeypatch):
    with GcsServer(objects) as gcs:
        monkeypatch.setenv(dl.ENDPOINT_ENV, gcs.endpoint)
        yield gcs


def _cached(cache, release, relative):
    return os.path.join(cache, *release.split("/"), *relative.split("/"))


def test_load_by_name_downloads_checks_and_works_offline(
    server, objects, tmp_path, capsys, monkeypatch
):
    cache = str(tmp_path / "cache")
    official = load_official(NAME, image_size=64, cache_dir=cache)
    info = official.info
    assert info["release"] == NAME and info["depth"] == 18
    assert info["from_projection_layer"] == 1  # the SavedModel's function says so
    assert "SavedModel's own function" in info["projection_layer_from"]
    for (bucket, name), data in objects.items():
        if bucket == releases.TF2_BUCKET:
            with open(_cached(cache, NAME, name[len(TF2_PREFIX):]), "rb") as f:
                assert f.read() == data
    assert os.path.exists(_cached(cache, NAME, dl.COMPLETE))
    total = sum(len(d) for (b, _), d in objects.items() if b == releases.TF2_BUCKET)
    assert f"{total}/{total}" in capsys.readouterr().out  # the progress bar reached the end
    listings = [p for p, _ in server.requests if p.startswith("/storage/")]
    tf2_objects = sum(b == releases.TF2_BUCKET for b, _ in objects)
    assert tf2_objects >= 3 and len(listings) == -(-tf2_objects // 2)  # two per page
    # Offline: the cache answers, with the preset spelling too.
    server.down = True
    count = len(server.requests)
    again = load_official("simclrv2_finetuned_100pct_r50_1x_sk0", image_size=64, cache_dir=cache)
    assert len(server.requests) == count
    np.testing.assert_array_equal(again.classifier.head.kernel, official.classifier.head.kernel)
    # `--config.eval.checkpoint=NAME` (the cache from the environment, as the commands have it).
    from simclr_tf.evaluation import load_pretrained

    monkeypatch.setenv(dl.CACHE_ENV, cache)
    model = load_pretrained(NAME)
    images = np.random.default_rng(0).random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(
        model.encoder(images, training=False), official.encoder(images, training=False), atol=1e-6
    )
    assert len(server.requests) == count


def test_tf1_release_takes_the_published_projection_layer(server, tmp_path):
    cache = str(tmp_path / "cache")
    official = load_official(NAME + "/tf1", image_size=64, cache_dir=cache)
    assert official.info["from_projection_layer"] == 1
    assert official.info["projection_layer_from"] == f"the published value for {NAME}/tf1"
    folder = _cached(cache, NAME + "/tf1", "")
    assert sorted(os.listdir(folder)) == [
        dl.COMPLETE, "model.ckpt-1.data-00000-of-00001", "model.ckpt-1.index"
    ]


def test_a_dropped_transfer_resumes(server, objects, tmp_path, monkeypatch):
    release = releases.get(NAME + "/tf1")
    size = len(objects[(releases.TF1_BUCKET, DATA)])
    # Within one run: the connection drops half way, the next attempt asks for the rest.
    server.truncate[DATA] = size // 2
    folder = dl.download(release, cache_dir=str(tmp_path / "a"), progress=False)
    assert server.media_requests(DATA) == [None, f"bytes={size // 2}-"]
    with open(os.path.join(folder, os.path.basename(DATA)), "rb") as f:
        assert f.read() == objects[(releases.TF1_BUCKET, DATA)]
    # Across runs: every attempt fails, the part is kept, the next run resumes it.
    monkeypatch.setattr(dl, "ATTEMPTS", 1)
    server.truncate[DATA] = 1000
    expected = r"stopped at 1,000 of [\d,]+ bytes.*run again to resume"
    with pytest.raises(ConnectionError, match=expected):
        dl.download(release, cache_dir=str(tmp_path / "b"), progress=False)
    part = os.path.join(
        str(tmp_path / "b"), *release.name.split("/"), os.path.basename(DATA) + ".part"
    )
    assert os.path.getsize(part) == 1000
    folder = dl.download(release, cache_dir=str(tmp_path / "b"), progress=False)
    assert server.media_requests(DATA)[-1] == "bytes=1000-"
    assert load_official(folder, from_projection_layer=1).info["loaded_tensors"] == 121


def test_a_bad_checksum_deletes_the_file(server, tmp_path):
    server.bad_md5.add(DATA)
    cache = str(tmp_path / "cache")
    expected = r"model.ckpt-1.data-00000-of-00001: checksum mismatch.*MD5"
    with pytest.raises(ValueError, match=expected):
        load_official(NAME + "/tf1", cache_dir=cache)
    folder = _cached(cache, NAME + "/tf1", "")
    assert not [n for n in os.listdir(folder) if n.startswith("model.ckpt-1.data")]
    assert not os.path.exists(os.path.join(folder, dl.COMPLETE))


def test_unreachable_bucket_and_unknown_names(objects, tmp_path, monkeypatch):
    with GcsServer(objects) as gcs:
        endpoint = gcs.endpoint
    monkeypatch.setenv(dl.ENDPOINT_ENV, endpoint)  # stopped: nothing listens there now
    expected = "Could not list gs://simclr-checkpoints-tf2/.*no complete copy"
    with pytest.raises(ConnectionError, match=expected):
        load_official(NAME, cache_dir=str(tmp_path))
    expected = (
        r"Unknown published checkpoint 'simclrv2/finetuned_100pct/r50_1x_sk2'.*"
        r"Closest: \['simclrv2/finetuned_100pct/r50_1x_sk1'"
    )
    with pytest.raises(ValueError, match=expected):
        load_official("simclrv2/finetuned_100pct/r50_1x_sk2", cache_dir=str(tmp_path))


def test_simclrv1_zip_by_name_and_by_path(objects, tmp_path, monkeypatch):
    import zipfile

    # The README's SimCLRv1 zips hold a folder with the TF1 checkpoint (and a hub module).
    archive = tmp_path / "ResNet50_1x.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for (bucket, name), data in objects.items():
            if bucket == releases.TF1_BUCKET and not name.endswith("checkpoint"):
                z.writestr("ResNet50_1x/" + name[len(TF1_PREFIX):], data)
    served = {(releases.ZIP_BUCKET, "checkpoints/ResNet50_1x.zip"): archive.read_bytes()}
    with GcsServer(served) as gcs:
        monkeypatch.setenv(dl.ENDPOINT_ENV, gcs.endpoint)
        by_name = load_official("simclrv1/ResNet50_1x", cache_dir=str(tmp_path / "cache"))
    assert by_name.info["from_projection_layer"] == 0  # v1: the published value
    assert by_name.info["source"].endswith(os.path.join("simclrv1", "ResNet50_1x", "ResNet50_1x"))
    by_path = load_official(str(archive), from_projection_layer=0, cache_dir=str(tmp_path / "c2"))
    np.testing.assert_array_equal(by_path.classifier.head.kernel, by_name.classifier.head.kernel)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../outside/model.ckpt-1.index", b"x")
    with pytest.raises(ValueError, match="would land outside"):
        load_official(str(evil), cache_dir=str(tmp_path / "c3"))


def test_every_published_name_is_listed():
    v2 = [n for n in releases.RELEASES if n.startswith("simclrv2/") and not n.endswith("/tf1")]
    assert len(v2) == 13 * 7 and len(releases.RELEASES) == 13 * 7 * 2 + 9 + 3
    r = releases.get("simclrv2/finetuned_100pct/r152_3x_sk1")
    assert (r.bucket, r.prefix, r.projection_layer, r.top1) == (
        "simclr-checkpoints-tf2", "simclrv2/finetuned_100pct/r152_3x_sk1/saved_model/", 1, 83.1
    )
    assert releases.get("simclrv1/pretrain/4x").top1 == 76.6
    assert releases.get("simclrv2_pretrained_r50_1x_sk0").top1 == 71.7


def test_convert_by_name_from_the_command_line(server, tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, "-m", "simclr_tf.convert", f"--checkpoint={NAME}", f"--output={out}",
         f"--cache_dir={cache}", "--image_size=64", "--noclass_names"],
        capture_output=True, text=True, env=env, timeout=600, cwd=helpers.ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "supervised head of 10 classes reading projection layer 1" in done.stdout
    assert "self-check passed, max relative error per endpoint: block_group1" in done.stdout
    assert "readable class names: none: not asked for" in done.stdout  # 10 classes
    assert os.path.exists(out / "export" / "classifier" / "1" / "saved_model.pb")
    assert os.path.exists(out / "simclr.keras") and not os.path.exists(out / "classifier.keras")
