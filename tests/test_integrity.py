"""File integrity and atomic writes (zoo.utils.integrity, zoo.utils.atomic), against hashlib and the file system."""

import hashlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from zoo.utils import atomic, integrity


def test_sha256_matches_hashlib_over_several_chunks(tmp_path):
    data = os.urandom(integrity.CHUNK_BYTES * 2 + 17)
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert integrity.sha256(path) == hashlib.sha256(data).hexdigest()


def test_verify_file_names_received_and_expected(tmp_path):
    path = tmp_path / "w.h5"
    path.write_bytes(b"abc")
    good = hashlib.sha256(b"abc").hexdigest()
    assert integrity.verify_file(path, good.upper()) == path
    with pytest.raises(integrity.ChecksumError, match=f"expected {'0' * 64}, got {good}") as err:
        integrity.verify_file(path, "0" * 64)
    assert isinstance(err.value, ValueError) and str(path) in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing"):
        integrity.verify_file(tmp_path / "nope.h5", good)


def test_one_integrity_module_for_cards_detectors_and_packs():
    import zoo.anomaly as anomaly
    import zoo.data.pack as pack
    import zoo.pretrained as pretrained

    assert pretrained.ChecksumError is integrity.ChecksumError
    assert pretrained.sha256 is integrity.sha256 and pretrained.verify_file is integrity.verify_file
    assert issubclass(anomaly.DetectorIntegrityError, integrity.ChecksumError)
    assert pack.sha256 is integrity.sha256


def test_anomaly_hashes_without_importing_pretrained():
    import ast
    from pathlib import Path

    import zoo.anomaly

    hashes_with_integrity = False
    for path in Path(zoo.anomaly.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("zoo.pretrained") for n in names), f"{path.name} imports {names}"
            hashes_with_integrity = hashes_with_integrity or "zoo.utils.integrity" in names
    assert hashes_with_integrity


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "run.json"
    atomic.write_text_atomic(path, "old")
    atomic.write_text_atomic(path, "new")
    assert path.read_text() == "new" and os.listdir(path.parent) == ["run.json"]


def test_failed_atomic_write_keeps_the_old_file_and_names_the_target(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.arange(3))

    def broken(temp):
        temp.write_bytes(b"half")
        raise OSError(f"disk full while writing {temp}")

    with pytest.raises(OSError) as err:
        atomic.save_atomic(path, broken)
    assert str(path) in str(err.value) and atomic.TEMP_PREFIX not in str(err.value)
    np.testing.assert_array_equal(np.load(path), np.arange(3))
    assert os.listdir(tmp_path) == ["x.npy"]


def test_save_atomic_keeps_the_suffix_writers_need(tmp_path):
    path = atomic.save_atomic(tmp_path / "codes.npy", lambda p: np.save(p, np.ones(2)))
    assert sorted(os.listdir(tmp_path)) == ["codes.npy"]
    np.testing.assert_array_equal(np.load(path), np.ones(2))


def test_a_writer_killed_mid_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "card.json"
    path.write_text('{"ok": 1}')
    code = textwrap.dedent(f"""
        import os, signal
        from zoo.utils.atomic import atomic_path
        with atomic_path({str(path)!r}) as temp:
            with open(temp, "w") as f:
                f.write('{{"trunc')
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    result = subprocess.run([sys.executable, "-c", code])
    assert result.returncode == -9
    assert path.read_text() == '{"ok": 1}'
