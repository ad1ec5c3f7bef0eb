"""Regression tests for hostile collection directories (issue 12, defects 1 and 2): each crafted
directory that crashed the process, blocked it, or escaped as another exception type now raises
``CollectionFormatError`` naming the file, and the CLI reports it on one line with exit code 2.

The manifest's checksums can be recomputed by whoever edits a directory, so every case here
recomputes them (``recompute_collection``): only the loader's own checks stand in the way. Cases
that crashed (SIGSEGV) or blocked (a FIFO) before the fix run in a child process with a timeout,
so that a regression fails the test instead of killing or hanging pytest.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from mcindex import Collection
from mcindex.cli import main
from mcindex.collection import CollectionFormatError
from mcindex.collection.storage import MAX_MANIFEST_BYTES, SELF_CHECKSUM, write_manifest
from mcindex.distributed.storage import read_manifest, verify_shard_manifests

pa = pytest.importorskip("pyarrow")
from test_collection_fuzz import (  # noqa: E402
    Original, layout_of, read_tree, recompute_collection, recompute_sharded, write_tree)

CHILD_TIMEOUT = 120


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    return Original(str(tmp_path_factory.mktemp("originals")))


def crafted(tmp_path, original, fmt, edit, name="c"):
    """A copy of the saved collection with ``edit(files)`` applied and every checksum recomputed."""
    files = dict(original.files[fmt])
    edit(files)
    recompute_collection(files, "")
    path = tmp_path / name
    write_tree(str(path), files)
    return path


def child(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (a crash or a hang fails the test, not pytest)."""
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT)


LOAD = """
import sys
from mcindex import Collection
from mcindex.collection import CollectionFormatError
try:
    Collection.load(sys.argv[1], mmap=sys.argv[2] == "1")
except CollectionFormatError as exc:
    print("CollectionFormatError:", exc)
else:
    print("loaded")
"""


def string_offset(position_from_end: int, value: int):
    """An edit setting one offset of the string column 'shop' (validity, offsets, data buffers)."""
    def edit(files):
        raw = bytearray(files["attributes.arrow"])
        layout = layout_of(files["attributes.arrow"])
        table = pa.ipc.open_file(pa.BufferReader(files["attributes.arrow"])).read_all()
        offsets = table.column("shop").chunk(0).buffers()[1].to_pybytes()
        start = next(a for a, n in layout.buffers if raw[a:a + n] == offsets[:n] and n == len(offsets))
        at = start + len(offsets) - 4 * position_from_end
        raw[at:at + 4] = struct.pack("<i", value)
        files["attributes.arrow"] = bytes(raw)
    return edit


# ---- defect 1: crafted Arrow columns ---------------------------------------------------------------------
def test_a_string_offset_of_2_31_minus_1_is_refused_not_a_crash(tmp_path, original):
    """The last offset of a string column set to 2**31 - 1 made Collection.load, 'mcindex info' and
    'mcindex search' die with SIGSEGV."""
    path = crafted(tmp_path, original, "arrow", string_offset(1, 2**31 - 1))
    for mmap in ("0", "1"):
        proc = child(LOAD, str(path), mmap)
        assert proc.returncode == 0, f"the child died with {proc.returncode}: {proc.stderr[-2000:]}"
        assert proc.stdout.startswith("CollectionFormatError:") and "attributes.arrow" in proc.stdout
    np.save(tmp_path / "q.npy", original.queries)
    for argv in (["info", str(path)], ["search", str(path), "--queries", str(tmp_path / "q.npy"), "--quiet"]):
        proc = subprocess.run([sys.executable, "-m", "mcindex.cli", *argv], capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stdout == "" and proc.stderr.count("\n") == 1
        assert proc.stderr.startswith("mcindex: error: ") and "attributes.arrow" in proc.stderr


@pytest.mark.parametrize(("position", "value", "problem"), [
    (1, 10_000, "larger than values array"),       # past the buffer
    (30, -5, "non-monotonic offset"),              # negative
    (10, 0, "non-monotonic offset"),               # decreasing
])
def test_offsets_past_the_buffer_negative_or_decreasing_are_refused_cleanly(tmp_path, original, position, value,
                                                                               problem):
    """These raised a raw Arrow exception whose message began with bytes read past the buffer."""
    path = crafted(tmp_path, original, "arrow", string_offset(position, value))
    with pytest.raises(CollectionFormatError, match=problem) as err:
        Collection.load(path)
    assert str(path / "attributes.arrow") in str(err.value) and "shop-" not in str(err.value)


def test_invalid_utf8_in_a_string_column_is_refused(tmp_path, original):
    def arrow(files):
        raw = bytearray(files["attributes.arrow"])
        data = pa.ipc.open_file(pa.BufferReader(files["attributes.arrow"])).read_all().column("shop").chunk(0)
        at = bytes(raw).find(data.buffers()[2].to_pybytes())  # the column's string data, as written
        assert at > 0
        raw[at + 1] = 0xFF
        files["attributes.arrow"] = bytes(raw)

    with pytest.raises(CollectionFormatError, match=r"attributes\.arrow.*UTF8|attributes\.arrow.*UTF-8"):
        Collection.load(crafted(tmp_path, original, "arrow", arrow, "a"))

    def npz(files):  # the npz fallback: a label blob of the same column
        with np.load(io.BytesIO(files["attributes.npz"])) as z:
            arrays = {k: z[k] for k in z.files}
        key = next(k for k in arrays if k.endswith("labels_blob"))
        arrays[key] = arrays[key].copy()
        arrays[key][2] = 0xFF
        out = io.BytesIO()
        np.savez(out, **arrays)
        files["attributes.npz"] = out.getvalue()

    with pytest.raises(CollectionFormatError, match=r"attributes\.npz.*not valid UTF-8"):
        Collection.load(crafted(tmp_path, original, "npz", npz, "n"))


def test_a_compressed_arrow_file_is_refused_before_arrow_allocates(tmp_path, original):
    """A compressed buffer starts with its decompressed length, which Arrow allocates as given."""
    def compress(files):
        table = pa.ipc.open_file(pa.BufferReader(files["attributes.arrow"])).read_all()
        sink = io.BytesIO()
        with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
            w.write_table(table)
        files["attributes.arrow"] = sink.getvalue()

    with pytest.raises(CollectionFormatError, match="compressed"):
        Collection.load(crafted(tmp_path, original, "arrow", compress))


# ---- defect 2: other exception types -------------------------------------------------------------------
def nested_manifest(depth: int) -> str:
    return '{"format": "mcindex-collection", "format_version": 1, "columns": ' + "[" * depth + "]" * depth + "}"


def test_a_manifest_nested_100000_deep_is_refused(tmp_path, original, capsys):
    """It raised RecursionError."""
    path = crafted(tmp_path, original, "npz", lambda files: None)
    (path / "manifest.json").write_text(nested_manifest(100_000))
    with pytest.raises(CollectionFormatError, match="nested deeper than 32"):
        Collection.load(path)
    assert main(["info", str(path)]) == 2
    assert "nested deeper" in capsys.readouterr().err
    shard = tmp_path / "sharded"
    shard.mkdir()
    (shard / "manifest.json").write_text(nested_manifest(100_000).replace("mcindex-collection",
                                                                           "mcindex-sharded-collection"))
    with pytest.raises(CollectionFormatError, match="nested deeper than 32"):
        read_manifest(str(shard))


def test_json_nesting_is_measured_outside_strings(tmp_path, original):
    """Brackets inside strings do not count, and a manifest just under the limit is parsed (and
    then refused for what it holds, not for its depth)."""
    path = crafted(tmp_path, original, "npz", lambda files: None)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["mcindex_version"] = "[" * 1000
    write_manifest(str(path), manifest)
    assert len(Collection.load(path)) == len(original.collection)
    (path / "manifest.json").write_text(nested_manifest(31))
    with pytest.raises(CollectionFormatError, match="must be an int"):
        Collection.load(path)


def zip_damage():
    """Ways to damage an .npz that each gave BadZipFile (or another zipfile error) with recomputed
    checksums."""
    def at(signature, offset, value):
        def edit(raw):
            raw = bytearray(raw)
            pos = raw.find(signature)
            raw[pos + offset:pos + offset + len(value)] = value
            return bytes(raw)
        return edit

    local, central, end = b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06"
    return {
        "truncated at half": lambda raw: raw[: len(raw) // 2],
        "truncated before the end record": lambda raw: raw[:-10],
        "empty": lambda raw: b"",
        "not a zip": lambda raw: b"not a zip file" * 10,
        "local header magic": at(local, 0, b"XX"),
        "local header name length": at(local, 26, b"\xff\xff"),
        "local header compression method": at(local, 8, b"\x08\x00"),
        "local header CRC": at(local, 14, b"\x00\x00\x00\x00"),
        "central directory magic": at(central, 0, b"XX"),
        "central directory compression method": at(central, 10, b"\x63\x00"),
        "central directory CRC": at(central, 16, b"\x01\x02\x03\x04"),
        "central directory sizes": at(central, 20, b"\xff\xff\xff\x7f\xff\xff\xff\x7f"),
        "central directory local offset": at(central, 42, b"\xff\xff\xff\x00"),
        "central directory name length": at(central, 28, b"\xff\x00"),
        "end record entry count": at(end, 10, b"\xff\xff"),
        "end record directory size": at(end, 12, b"\xff\xff\xff\x7f"),
        "end record directory offset": at(end, 16, b"\x00\x00\x00\x00"),
        "encrypted flag": at(central, 8, b"\x01\x00"),
        "member data zeroed": lambda raw: raw[:40] + bytes(200) + raw[240:],
    }


# Fields zipfile does not read (it trusts the central directory): the data is intact, the load identical.
HARMLESS = {"end record entry count", "local header CRC", "local header compression method"}


@pytest.mark.parametrize("name", ["attributes.npz", "ids.npz"])
@pytest.mark.parametrize("damage", sorted(zip_damage()))
def test_damaged_npz_with_recomputed_checksums_is_a_collection_format_error(tmp_path, original, name, damage):
    """Damaged .npz files with recomputed hashes escaped as BadZipFile (18 cases)."""
    def edit(files):
        files[name] = zip_damage()[damage](files[name])
    path = crafted(tmp_path, original, "npz", edit)
    if damage in HARMLESS:
        loaded = Collection.load(path)
        assert list(loaded.ids) == list(original.collection.ids)
        assert loaded.attributes(format="arrow").equals(original.collection.attributes(format="arrow"))
        return
    with pytest.raises(CollectionFormatError) as err:
        Collection.load(path)
    assert name in str(err.value)


def test_an_npy_header_claiming_a_huge_shape_allocates_nothing(tmp_path, original):
    """np.load allocates the array of the header's shape before reading; the loader checks the
    shape against the member's size first."""
    def edit(files):
        with np.load(io.BytesIO(files["ids.npz"])) as z:
            arrays = {k: z[k] for k in z.files}
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as zf:
            for key, arr in arrays.items():
                header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000000,), }".ljust(117) + "\n"
                body = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + arr.tobytes()
                zf.writestr(key + ".npy", body)
        files["ids.npz"] = out.getvalue()
    with pytest.raises(CollectionFormatError, match=r"ids\.npz.*shape \(1000000000000,\).*needs 8000000000000 bytes"):
        Collection.load(crafted(tmp_path, original, "npz", edit))


# ---- special files -----------------------------------------------------------------------------------------
FIFO_LOAD = """
import os, sys
from mcindex import Collection
from mcindex.collection import CollectionFormatError
path, name = sys.argv[1], sys.argv[2]
os.remove(os.path.join(path, name))
os.mkfifo(os.path.join(path, name))
try:
    Collection.load(path)
except CollectionFormatError as exc:
    print("CollectionFormatError:", exc)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("name", ["manifest.json", "attributes.arrow", "ids.npz", "index.mci"])
def test_a_fifo_in_a_collection_is_refused_without_blocking(tmp_path, original, name):
    """Opening a FIFO for reading blocks until a writer comes: forever."""
    path = crafted(tmp_path, original, "arrow", lambda files: None)
    proc = child(FIFO_LOAD, str(path), name)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("CollectionFormatError:") and f"{name}: a FIFO, not a regular file" in proc.stdout
    cli = subprocess.run([sys.executable, "-m", "mcindex.cli", "info", str(path)], capture_output=True, text=True,
                         timeout=CHILD_TIMEOUT)
    assert cli.returncode == 2 and cli.stderr.startswith("mcindex: error: ") and "FIFO" in cli.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifos_in_a_sharded_directory_and_as_an_index_file_are_refused(tmp_path, original):
    root = tmp_path / "s"
    write_tree(str(root), original.sharded)
    code = """
import os, sys
from mcindex.collection import CollectionFormatError
from mcindex.distributed.storage import read_manifest, verify_shard_manifests
from mcindex.persistence import IndexFormatError
from mcindex import Index
root, target = sys.argv[1], sys.argv[2]
os.remove(os.path.join(root, target))
os.mkfifo(os.path.join(root, target))
try:
    if target.endswith(".mci"):
        Index.load(os.path.join(root, target))
    else:
        verify_shard_manifests(root, read_manifest(root))
except (CollectionFormatError, IndexFormatError) as exc:
    print(type(exc).__name__, exc)
"""
    proc = child(code, str(root), "shard-0001/manifest.json")
    assert proc.returncode == 0 and "shard-0001/manifest.json: a FIFO" in proc.stdout, proc.stderr[-2000:]
    proc = child(code, str(root), "shard-0000/index.mci")
    assert proc.returncode == 0 and "IndexFormatError" in proc.stdout and "not a regular file" in proc.stdout, \
        proc.stderr[-2000:]
    write_tree(str(root), {"manifest.json": original.sharded["manifest.json"]})
    proc = child(code, str(root), "manifest.json")
    assert proc.returncode == 0 and "manifest.json: a FIFO" in proc.stdout, proc.stderr[-2000:]


def test_symlinks_inside_a_collection_are_refused(tmp_path, original):
    """A symlink could make a collection read a file outside its directory; the file it points
    to here is byte for byte the right one, so only the link itself is refused."""
    path = crafted(tmp_path, original, "arrow", lambda files: None)
    outside = tmp_path / "elsewhere.npz"
    outside.write_bytes((path / "ids.npz").read_bytes())
    (path / "ids.npz").unlink()
    (path / "ids.npz").symlink_to(outside)
    with pytest.raises(CollectionFormatError, match=r"ids\.npz: a symbolic link"):
        Collection.load(path)
    root = tmp_path / "s"
    write_tree(str(root), original.sharded)
    os.rename(root / "shard-0001", tmp_path / "shard-elsewhere")
    (root / "shard-0001").symlink_to(tmp_path / "shard-elsewhere")
    with pytest.raises(CollectionFormatError, match="shard 1 is a symbolic link"):
        verify_shard_manifests(str(root), read_manifest(str(root)))
    link = tmp_path / "link-to-collection"  # the directory itself may be reached through a link
    link.symlink_to(tmp_path / "c2", target_is_directory=True)
    crafted(tmp_path, original, "npz", lambda files: None, "c2")
    assert len(Collection.load(link)) == len(original.collection)


# ---- limits and checksums ---------------------------------------------------------------------------------
def test_an_oversized_manifest_is_refused_before_it_is_parsed_and_never_written(tmp_path, original):
    path = crafted(tmp_path, original, "npz", lambda files: None)
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "manifest.json").write_text(json.dumps({**manifest, "mcindex_version": "x" * MAX_MANIFEST_BYTES}))
    with pytest.raises(CollectionFormatError, match=f"more than the {MAX_MANIFEST_BYTES} bytes allowed"):
        Collection.load(path)
    with pytest.raises(ValueError, match="more than the"):
        write_manifest(str(tmp_path), {**manifest, "mcindex_version": "x" * MAX_MANIFEST_BYTES})
    assert not (tmp_path / "manifest.json").exists()


def test_the_manifest_checksum_catches_damage_no_other_checksum_covers(tmp_path, original):
    """npz column names are stored only in the manifest: renaming one without recomputing the
    manifest's own checksum is caught; manifests written before the checksum existed still load."""
    path = crafted(tmp_path, original, "npz", lambda files: None)
    manifest = json.loads((path / "manifest.json").read_text())
    renamed = dict(manifest, columns=[dict(manifest["columns"][0], name="cost")] + manifest["columns"][1:])
    (path / "manifest.json").write_text(json.dumps(renamed))
    with pytest.raises(CollectionFormatError, match="manifest.json: checksum mismatch"):
        Collection.load(path)
    del renamed[SELF_CHECKSUM]  # as written by an mcindex without the checksum
    (path / "manifest.json").write_text(json.dumps(renamed))
    assert Collection.load(path).column_names[0] == "cost"
    renamed["extra"] = 1
    (path / "manifest.json").write_text(json.dumps(renamed))
    with pytest.raises(CollectionFormatError, match="unknown key"):
        Collection.load(path)


def test_a_sharded_directory_whose_shards_disagree_with_its_manifest_is_refused(tmp_path, original):
    files = dict(original.sharded)
    manifest = json.loads(files["manifest.json"])
    manifest["columns"] = manifest["columns"][::-1]
    files["manifest.json"] = json.dumps(manifest).encode()
    recompute_sharded(files)
    write_tree(str(tmp_path), files)
    with pytest.raises(CollectionFormatError, match="shard 0 has columns"):
        verify_shard_manifests(str(tmp_path), read_manifest(str(tmp_path)))
    assert read_tree(str(tmp_path))["manifest.json"] == files["manifest.json"]


def test_the_cli_reports_hostile_directories_on_one_line_with_exit_code_2(tmp_path, original, capsys):
    np.save(tmp_path / "q.npy", original.queries)
    cases = {
        "utf8": crafted(tmp_path, original, "arrow", string_offset(30, -5), "neg"),
        "zip": crafted(tmp_path, original, "npz", lambda f: f.update({"ids.npz": f["ids.npz"][:100]}), "zip"),
    }
    for path in cases.values():
        for argv in (["info", str(path)], ["search", str(path), "--queries", str(tmp_path / "q.npy"), "--quiet"]):
            assert main(argv) == 2
            captured = capsys.readouterr()
            assert captured.out == "" and captured.err.count("\n") == 1
            assert captured.err.startswith(f"mcindex: error: {path}")



@pytest.mark.parametrize(("path", "value"), [
    (("columns", 3, "dtype"), {"a": 1}),    # unhashable: raised TypeError (found by the fuzz's long mode)
    (("columns", 3, "kind"), ["numeric"]),
    (("columns", 3, "name"), {"x": 1}),
    (("columns", 3, "nulls"), -1),
    (("n",), "80"),
    (("n",), 10**40),
    (("files",), [1, 2]),
    (("files", "ids.npz", "bytes"), 2**70),
    (("ids",), {"kind": "str"}),
    (("attributes_format",), ["arrow"]),
])
def test_hostile_manifest_values_with_a_recomputed_checksum_are_refused(tmp_path, original, path, value):
    files = dict(original.files["arrow"])
    recompute_collection(files, "")
    manifest = json.loads(files["manifest.json"])
    node = manifest
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    write_manifest(str(tmp_path), manifest)  # recomputes the manifest's own checksum
    write_tree(str(tmp_path), {k: v for k, v in files.items() if k != "manifest.json"})
    with pytest.raises(CollectionFormatError, match=r"(manifest\.json|index\.mci|ids\.npz): ") as err:
        Collection.load(tmp_path)  # refused by the manifest check, or where the value meets the file
    assert str(err.value).startswith(str(tmp_path))


def test_a_json_number_overflowing_to_infinity_is_refused(tmp_path, original):
    """A raw splice turned a centroid into -0.1e825...: valid JSON that parses to -inf, which
    made computing the manifest's checksum raise a plain ValueError (found by the long fuzz)."""
    text = original.sharded["manifest.json"].decode()
    start = text.index('"centroids"')
    number = re.search(r"-?[0-9][0-9.e+-]*", text[start + len('"centroids"'):])
    at = start + len('"centroids"') + number.start()
    write_tree(str(tmp_path), dict(original.sharded))
    (tmp_path / "manifest.json").write_text(text[:at] + "-0.1e825" + text[at + len(number.group()):])
    with pytest.raises(CollectionFormatError, match="out of the float64 range"):
        read_manifest(str(tmp_path))
