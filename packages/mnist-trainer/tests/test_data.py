"""The IDX parser, the lookup order, checksum verification and the download path."""

from __future__ import annotations

import functools
import gzip
import http.server
import shutil
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from mnist_trainer import data
from mnist_trainer.errors import CorruptDataError, DataNotFoundError
from mnist_trainer.idx import parse_idx, read_idx


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def gzip_bomb(path: Path, head: bytes, mib_of_zeros: int) -> None:
    """`head`, then many MiB of zeros, as a small multi-member gzip file (~1 KB per MiB)."""
    member = gzip.compress(bytes(1 << 20), 9, mtime=0)
    with path.open("wb") as f:
        f.write(gzip.compress(head, mtime=0))
        for _ in range(mib_of_zeros):
            f.write(member)


def peak_memory_of(function) -> int:
    """Peak bytes allocated through Python while `function()` runs (it may raise)."""
    tracemalloc.start()
    try:
        function()
    except Exception:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_parser_round_trips_synthetic_images_and_labels(tmp_path: Path):
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    labels = np.array([7, 0, 9])
    (tmp_path / "images").write_bytes(idx_bytes(images))
    with gzip.open(tmp_path / "labels.gz", "wb") as f:
        f.write(idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(tmp_path / "images"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), labels)
    assert read_idx(tmp_path / "images").flags.writeable


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        (b"\x00\x00", "too short"),
        (b"\x01\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc", "bad magic"),
        (b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"abc", "not supported"),
        (b"\x00\x00\x08\x03" + (3).to_bytes(4, "big"), "truncated IDX header"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "truncated or corrupt"),
        (b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc", "truncated or corrupt"),
    ],
)
def test_parser_rejects_malformed_files_naming_them(content: bytes, complaint: str):
    with pytest.raises(CorruptDataError, match=complaint) as info:
        parse_idx(content, "some/file-idx1-ubyte")
    assert "some/file-idx1-ubyte" in str(info.value)


def test_real_files_load_with_published_shapes_and_checksums(dataset):
    assert dataset.train_images.shape == (60000, 28, 28)
    assert dataset.test_images.shape == (10000, 28, 28)
    assert np.bincount(dataset.train_labels).tolist() == [6000] * 10
    assert np.bincount(dataset.test_labels).tolist() == [1000] * 10
    mean = dataset.train_images.mean() / 255
    std = dataset.train_images.std() / 255
    assert mean == pytest.approx(data.PIXEL_MEAN, abs=5e-4)
    assert std == pytest.approx(data.PIXEL_STD, abs=5e-4)


def _copy_real(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for spec in data.FILES.values():
        shutil.copy(source / f"{spec.stem}.gz", target / f"{spec.stem}.gz")
    return target


def test_uncompressed_copies_are_accepted(data_dir: Path, tmp_path: Path):
    for spec in data.FILES.values():
        with gzip.open(data_dir / f"{spec.stem}.gz") as f:
            (tmp_path / spec.stem).write_bytes(f.read())
    loaded = data.load_from(tmp_path)
    assert loaded.test_labels.shape == (10000,)


def test_truncated_gzip_is_an_error_naming_the_file(data_dir: Path, tmp_path: Path):
    folder = _copy_real(data_dir, tmp_path / "d")
    victim = folder / "t10k-labels-idx1-ubyte.gz"
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match=r"t10k-labels-idx1-ubyte\.gz"):
        data.load_from(folder)


def test_altered_content_fails_the_checksum_naming_the_file(data_dir: Path, tmp_path: Path):
    folder = _copy_real(data_dir, tmp_path / "d")
    victim = folder / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(victim) as f:
        content = bytearray(f.read())
    content[-1] = (content[-1] + 1) % 10  # still a valid IDX file, one label changed
    with gzip.open(victim, "wb") as f:
        f.write(bytes(content))
    with pytest.raises(CorruptDataError, match=r"t10k-labels-idx1-ubyte\.gz: content MD5"):
        data.load_from(folder)


def test_gzip_bomb_is_refused_without_inflating_it(tmp_path: Path):
    """D13: a 256 KB file that inflates to 256 MiB, behind a valid 60,000-label header."""
    bomb = tmp_path / "train-labels-idx1-ubyte.gz"
    header = idx_bytes(np.zeros(60000, np.uint8))
    gzip_bomb(bomb, header, 256)
    assert bomb.stat().st_size < 400_000

    def read():
        with pytest.raises(CorruptDataError, match="more data than its header declares"):
            read_idx(bomb, max_bytes=len(header))

    assert peak_memory_of(read) < 4 << 20  # the announced 60 KB and buffers, not 256 MiB


def test_a_header_announcing_too_much_is_refused_before_reading(tmp_path: Path):
    path = tmp_path / "huge-idx3-ubyte.gz"
    gzip_bomb(path, bytes([0, 0, 8, 3]) + (100_000).to_bytes(4, "big") * 3, 64)

    def read():
        with pytest.raises(CorruptDataError, match="more than the 47040016 bytes"):
            read_idx(path, max_bytes=47040016)

    assert peak_memory_of(read) < 4 << 20


def test_a_bomb_in_the_data_folder_is_named_and_refused(fake_dataset, tmp_path: Path):
    folder, files = fake_dataset
    victim = folder / "train-labels-idx1-ubyte.gz"
    gzip_bomb(victim, idx_bytes(np.arange(40) % 10), 128)
    with pytest.raises(CorruptDataError, match=r"train-labels-idx1-ubyte\.gz: holds more data"):
        data.load_from(folder, files=files)
    assert peak_memory_of(lambda: data.load_from(folder, files=files)) < 4 << 20


def test_lookup_order_is_env_then_cache_then_debian(
    fake_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    folder, files = fake_dataset
    from_env = shutil.copytree(folder, tmp_path / "env")
    monkeypatch.setenv(data.DIR_ENV, str(from_env))
    assert data.locate(None, allow_download=False, files=files) == from_env
    monkeypatch.setenv(data.DIR_ENV, str(tmp_path / "empty"))
    cache = shutil.copytree(folder, data.cache_dir())
    assert data.locate(None, allow_download=False, files=files) == cache
    monkeypatch.delenv(data.DIR_ENV)
    shutil.rmtree(cache)
    debian = shutil.copytree(folder, tmp_path / "debian")
    monkeypatch.setattr(data, "DEBIAN_DIR", debian)
    assert data.locate(None, allow_download=False, files=files) == debian


def test_data_dir_is_the_only_place_looked_at(
    fake_dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    folder, files = fake_dataset
    monkeypatch.setenv(data.DIR_ENV, str(folder))  # a good copy elsewhere is not used
    assert data.locate(folder, allow_download=False, files=files) == folder
    with pytest.raises(DataNotFoundError, match=r"--data-dir /nonexistent is not a folder"):
        data.locate("/nonexistent", files=files)
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(folder / "train-images-idx3-ubyte.gz", partial)
    with pytest.raises(DataNotFoundError) as info:
        data.locate(partial, files=files)
    message = str(info.value)
    assert f"--data-dir {partial} lacks" in message
    for missing in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        assert missing in message
    assert "train-images-idx3-ubyte" not in message.split("lacks")[1]


def test_missing_data_offline_lists_places_and_three_fixes(tmp_path: Path):
    with pytest.raises(DataNotFoundError) as info:
        data.locate(None)  # the mirror is a refused port on 127.0.0.1
    message = str(info.value)
    for expected in (str(data.cache_dir()), str(data.DEBIAN_DIR)):
        assert expected in message
    for fix in ("--data-dir", "FASHION_MNIST_DIR", "apt-get install dataset-fashion-mnist",
                "connect to the internet"):  # fmt: skip
        assert fix in message
    assert "\n" not in message


def test_no_download_error_offers_only_local_fixes():
    with pytest.raises(DataNotFoundError) as info:
        data.locate(None, allow_download=False)
    message = str(info.value)
    assert "apt-get install dataset-fashion-mnist" in message and "--data-dir" in message
    for online in ("internet", "download", "connect"):
        assert online not in message.lower()


@pytest.fixture
def mirror(fake_dataset):
    """A local HTTP server that serves the fixture files, as the official mirror would."""
    folder, files = fake_dataset
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", files
    server.shutdown()
    server.server_close()


def test_download_fetches_and_verifies_into_the_cache(mirror, monkeypatch: pytest.MonkeyPatch):
    url, files = mirror
    monkeypatch.setenv(data.MIRROR_ENV, url)
    folder = data.locate(None, progress=False, files=files)
    assert folder == data.cache_dir()
    loaded = data.load_from(folder, files=files)
    assert loaded.train_images.shape == (40, 28, 28) and loaded.test_labels.shape == (20,)


def test_download_with_a_bad_checksum_keeps_nothing(fake_dataset, tmp_path: Path):
    folder, files = fake_dataset
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not the real file")
    with pytest.raises(CorruptDataError, match=r"train-labels-idx1-ubyte\.gz"):
        data.download(tmp_path / "cache", mirror=folder.as_uri(), progress=False, files=files)
    assert not (tmp_path / "cache" / "train-labels-idx1-ubyte.gz").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith("train-l")] == []


def test_the_official_digests_are_the_default(fake_dataset, tmp_path: Path):
    """Fixture files are not Fashion-MNIST: checked against the published digests, refused."""
    folder, _ = fake_dataset
    with pytest.raises(CorruptDataError, match="not the published"):
        data.download(tmp_path / "cache", mirror=folder.as_uri(), progress=False)


def test_validation_split_is_fixed_and_disjoint():
    images = np.arange(100, dtype=np.uint8).reshape(100, 1, 1)
    labels = np.arange(100) % 10
    a = data.split_train_val(images, labels, 20)
    b = data.split_train_val(images, labels, 20)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert len(a[0]) == 80 and len(a[2]) == 20
    assert not set(a[0].ravel()) & set(a[2].ravel())
