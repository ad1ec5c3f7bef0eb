"""``mcindex serve``: its help, and every way it refuses to start (no Ray Serve installed, a bad
path, a bad port, a sharded collection before mcindex.distributed lands) - one line on stderr,
exit code 2, and no Ray started. What a path holds (mcindex.serve.loading), without Ray."""

import json
import sys

import numpy as np
import pytest

from mcindex.cli import main
from mcindex.serve.loading import describe_path, load_servable
from serve_data import queries, shop


def run(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve-cli")
    shop().save(d / "shop.mcc")
    shop().index.save(d / "shop.mci")
    return d


def test_help(capsys):
    code, out, _ = run(capsys, ["serve", "--help"])
    assert code == 0
    assert "mcindex serve shop.mcc --port 9000 --replicas 2" in out and "POST /search" in out
    assert 'pip install "mcindex[distributed]"' in out


def test_without_ray_serve(capsys, monkeypatch, saved):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    code, out, err = run(capsys, ["serve", saved / "shop.mcc"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and 'pip install "mcindex[distributed]"' in err and err.startswith("mcindex: error:")


def _needs_serve():
    pytest.importorskip("fastapi")
    pytest.importorskip("ray.serve")


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: d / "missing.mcc", "No such file or directory"),
    (lambda d: d, "not a collection directory (no manifest.json)"),
    (lambda d: d / "shop.mcc" / "ids.npz", "not an mcindex index file or collection directory"),
])
def test_bad_paths(capsys, saved, make, message):
    _needs_serve()
    code, out, err = run(capsys, ["serve", make(saved)])
    assert code == 2 and out == "" and err.count("\n") == 1 and message in err, err


def test_bad_arguments(capsys, saved):
    for argv, message in ([["--port", "0"], "a port number (1-65535)"], [["--replicas", "0"], "positive integer"],
                          [["--max-body-mb", "-1"], "positive number"]):
        code, _, err = run(capsys, ["serve", saved / "shop.mcc", *argv])
        assert code == 2 and message in err and err.count("\n") == 1


def test_sharded_directory_is_recognised_and_verified_before_ray_starts(capsys, tmp_path):
    _needs_serve()
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "mcindex-sharded-collection", "shards": []}))
    assert describe_path(tmp_path) == "sharded"
    code, _, err = run(capsys, ["serve", tmp_path])
    assert code == 2 and "manifest" in err and err.count("\n") == 1


def test_loading(saved, tmp_path):
    assert describe_path(saved / "shop.mcc") == "collection"
    assert describe_path(saved / "shop.mci") == "index"
    q = queries(2)
    loaded = load_servable(saved / "shop.mcc")
    for a, b in zip(loaded.search(q, 5, threads=1), shop().search(q, 5, threads=1), strict=True):
        np.testing.assert_array_equal(a, b)
    bare = load_servable(saved / "shop.mci")  # no attributes, row numbers as ids
    assert bare.column_names == [] and len(bare) == len(shop())
    ids, _ = bare.search(q, 5, threads=1)
    assert ids.tolist() == shop().rows_of(shop().search(q, 5, threads=1)[0].ravel()).reshape(2, 5).tolist()
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable manifest"):
        describe_path(tmp_path)


def test_import_mcindex_does_not_import_ray_or_fastapi():
    import subprocess

    code = ("import sys, mcindex, mcindex.cli, mcindex.serve, mcindex.serve.where_json; mcindex.cli.build_parser(); "
            "heavy = [m for m in ('ray', 'fastapi', 'pydantic', 'starlette') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)
