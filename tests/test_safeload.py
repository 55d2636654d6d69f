"""Hostile YAML and JSON (vcmctc.safeload) through every reader that uses it: manifests,
editions, COCO ground truth/results; one-line messages (vcmctc.errors.one_line)."""

import json
import time
from pathlib import Path

import pytest
import yaml

from vcmctc import safeload
from vcmctc.ctc import editions
from vcmctc.ctc.editions import edition_paths, load_edition
from vcmctc.datasets.coco import read_json
from vcmctc.errors import UserError, one_line
from vcmctc.paths import cfg_dir
from vcmctc.safeload import load_json, load_yaml, loads_json, loads_yaml
from vcmctc.submission.manifest import load_manifest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(params=[True, False], ids=["libyaml", "pure-python"])
def loader(request, monkeypatch):
    """Run a test with libyaml's parser and with PyYAML's pure-Python one."""
    if request.param and not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml")
    monkeypatch.setattr(safeload, "USE_LIBYAML", request.param)
    return request.param


def alias_bomb(levels: int = 9, width: int = 9) -> str:
    """The 'billion laughs': level i is a list of ``width`` aliases of level i-1."""
    lines = ["# a YAML alias bomb", 'lol0: &lol0 ["lol lol lol lol lol lol lol lol"]']
    for i in range(1, levels + 1):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_fails_in_milliseconds(tmp_path, loader):
    text = alias_bomb(20, 20)  # 20**20 = 1e26 leaves once expanded
    assert 2500 < len(text) < 4000  # a few KB, like the 3.4 KB bomb of the issue
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(UserError) as err:
        load_yaml(path)
    assert time.perf_counter() - start < 0.5
    # the first alias is on line 3 (lol1's list)
    assert str(err.value) == (f"{path}:3: YAML aliases (*name) are not allowed; write the "
                              "value out")


def test_alias_bomb_in_a_manifest_and_an_edition(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "submission.yaml").write_text("codec: x\nedition: ctc-demo\n"
                                         "description: &d [a, b]\nnotes: *d\n")
    with pytest.raises(UserError, match=r"submission.yaml:4: YAML aliases"):
        load_manifest(sub)
    (tmp_path / "ed.yaml").write_text(alias_bomb())
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"ed.yaml:3: YAML aliases"):
        load_edition(tmp_path / "ed.yaml")
    assert time.perf_counter() - start < 0.5


def test_anchors_without_aliases_and_plain_documents_load(loader):
    assert loads_yaml("a: &x 1\nb: 2\n") == {"a": 1, "b": 2}
    assert loads_yaml("") is None and loads_yaml("# only a comment\n") is None
    assert loads_yaml("- 1\n- {a: [x, 2.5, null, true]}\n") == [1, {"a": ["x", 2.5, None, True]}]


@pytest.mark.parametrize("depth", [101, 500, 5000])
def test_deep_yaml_is_a_user_error(tmp_path, loader, depth):
    path = tmp_path / "deep.yaml"
    path.write_text("x: " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(UserError, match=r"deep.yaml(:1)?: .*(nested deeper than 100 levels|"
                                        r"nested too deep|invalid YAML)"):
        load_yaml(path)


def test_depth_limit_is_exact(loader):
    assert loads_yaml("[" * 100 + "]" * 100) is not None  # 100 levels: allowed
    with pytest.raises(UserError, match="nested deeper than 100 levels"):
        loads_yaml("[" * 101 + "]" * 101)
    nested = {"a": [{"b": [[1]]}]}  # mappings count as levels too: 5 here
    assert loads_yaml(json.dumps(nested), max_depth=5) == nested
    with pytest.raises(UserError, match="nested deeper than 4 levels"):
        loads_yaml(json.dumps(nested), max_depth=4)


def test_duplicate_yaml_keys_name_the_key_and_line(tmp_path, loader):
    path = tmp_path / "dup.yaml"
    path.write_text("codec: a\nsequences:\n  S1:\n    - {qp: 22}\n  S2: []\n  S1: []\n")
    with pytest.raises(UserError) as err:
        load_yaml(path)
    assert str(err.value) == (f"{path}:6: duplicate key 'S1' (each key may appear once in a "
                              "mapping)")
    # keys equal as values are duplicates even when written differently
    with pytest.raises(UserError, match=r":3: duplicate key 1.0"):
        loads_yaml("a: 1\n1: x\n1.0: y\n", source="<t>")
    # and in a submission manifest, through the CLI's loader
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "submission.yaml").write_text("codec: x\nedition: ctc-demo\ncodec: y\n")
    with pytest.raises(UserError, match=r"submission.yaml:3: duplicate key 'codec'"):
        load_manifest(sub)


def test_merge_keys_and_unsafe_tags_are_refused(loader):
    with pytest.raises(UserError, match=r"<t>:2: YAML merge keys"):
        loads_yaml("a: 1\nb: {<<: {c: 1}, d: 2}\n", source="<t>")
    with pytest.raises(UserError, match="could not determine a constructor.*python/object"):
        loads_yaml("a: !!python/object/apply:os.system [echo hi]\n", source="<t>")


def test_size_limit(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n")
    with pytest.raises(UserError, match=r"big.yaml: YAML file of 2004 bytes is larger than the "
                                        r"limit of 1000 bytes"):
        load_yaml(path, max_bytes=1000)
    assert len(load_yaml(path, max_bytes=2004)["a"]) == 2000
    (tmp_path / "big.json").write_text(json.dumps(list(range(1000))))
    with pytest.raises(UserError, match="JSON file of 4890 bytes is larger"):
        load_json(tmp_path / "big.json", max_bytes=4000)


def test_not_regular_files(tmp_path):
    with pytest.raises(UserError, match="is a directory, expected a YAML file"):
        load_yaml(tmp_path)
    with pytest.raises(UserError, match="is not a regular file"):
        load_json("/dev/null")
    with pytest.raises(UserError, match="missing.json: file not found"):
        load_json(tmp_path / "missing.json")
    (tmp_path / "latin1.yaml").write_bytes(b"a: \xe9t\xe9\n")
    with pytest.raises(UserError, match="latin1.yaml: not UTF-8 text"):
        load_yaml(tmp_path / "latin1.yaml")


def test_every_bundled_yaml_file_reads_as_yaml_safe_load_reads_it(loader):
    """Same data as PyYAML's safe_load for the real files (editions, bases, anchors,
    examples): the limits refuse nothing they use."""
    files = sorted([*cfg_dir().rglob("*.yaml"), *(ROOT / "anchors").rglob("*.yaml"),
                    *(ROOT / "examples").rglob("*.yaml")])
    assert len(files) >= 9
    for path in files:
        assert load_yaml(path) == yaml.safe_load(path.read_text(encoding="utf-8")), path


# ---------------------------------------------------------------------------------------------
# JSON

@pytest.mark.parametrize("depth", [101, 500, 100_000])
def test_deep_json_is_a_user_error(tmp_path, depth):
    path = tmp_path / "results.json"
    path.write_text("[" * depth + "]" * depth)
    with pytest.raises(UserError) as err:
        read_json(path)  # COCO results and ground truth, SFU and Open Images JSON
    assert str(err.value) == f"{path}: JSON nested deeper than 100 levels"


def test_duplicate_json_keys(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text('{"images": [],\n "annotations": [\n  {"id": 1, "bbox": [0, 0, 1, 1],\n'
                    '   "score": 0.1, "score": 0.9}],\n "categories": []}\n')
    with pytest.raises(UserError) as err:
        read_json(path)
    assert str(err.value) == (f"{path}:3: duplicate key 'score' in the object at column 3 (each "
                              "key may appear once in an object)")
    # a minified file: the column finds the object
    text = json.dumps([{"a": 1}] * 3)[:-1] + ', {"a": 1, "a": 2}]'
    assert text.index('{"a": 1, "a"') == 31
    with pytest.raises(UserError, match=r"<t>:1: duplicate key 'a' in the object at column 32"):
        loads_json(text, source="<t>")


def test_json_plain_documents_and_errors():
    assert loads_json(b'{"a": [1, 2.5, null, "x"], "b": {}}') == {"a": [1, 2.5, None, "x"], "b": {}}
    assert loads_json("[" * 100 + "]" * 100) is not None
    with pytest.raises(UserError, match=r"<t>:2: invalid JSON: Expecting value \(column 5\)"):
        loads_json('[1,\n 2, ]', source="<t>")


def _walk_depth(data) -> int:
    """Nesting depth by visiting every container (what the byte scan must equal)."""
    if isinstance(data, dict):
        return 1 + max((_walk_depth(v) for v in data.values()), default=0)
    if isinstance(data, list):
        return 1 + max((_walk_depth(v) for v in data), default=0)
    return 0


@pytest.mark.parametrize("text", [
    '[]', '{}', '[[], {}]', '{"a": {"b": [1, {"c": []}]}}',
    '{"[[[": "]]]", "x": ["{", "}", "[[[[[["]}',       # brackets inside strings
    '{"a:b": "c:d", "e": [":", ""]}',                    # colons and empty strings
    '[{"naïve": "日本[語]"}, ["€{"]]',                    # multi-byte UTF-8 around brackets
    '[' * 100 + ']' * 100, '  \n [1, [2, [3]]]  \n', '"just a string"', '3.5',
])
def test_json_depth_from_bytes_equals_the_walk(text):
    data = json.loads(text)
    for form in (text, text.encode("utf-8"), bytearray(text.encode("utf-8"))):
        depth = safeload._text_depth(form)
        assert depth == _walk_depth(data), form
        assert loads_json(form) == data


@pytest.mark.parametrize("raw", [
    b'{"a\\"[": ["\\"{{{"]}',            # escaped quotes: where strings end is unknown
    b'["\\\\", [[]]]',                     # an escaped backslash
    '[[1], {"a": []}]'.encode("utf-16"),  # not UTF-8
    '[[1]]'.encode("utf-8-sig"),          # UTF-8 with a byte-order mark
])
def test_json_depth_falls_back_to_the_walk(raw):
    assert safeload._text_depth(raw) is None
    data = json.loads(raw)
    depth = _walk_depth(data)
    assert loads_json(raw, max_depth=depth) == data
    with pytest.raises(UserError, match=f"JSON nested deeper than {depth - 1} levels"):
        loads_json(raw, max_depth=depth - 1)


@pytest.mark.parametrize("depth", [2, 3, 7])
def test_json_depth_limit_with_strings_of_brackets(depth):
    # closing brackets inside strings must not hide real depth, nor opening ones add to it
    text = '[' * depth + '"]]]]]]]]]]"' + ']' * depth
    assert loads_json(text, max_depth=depth) == json.loads(text)
    with pytest.raises(UserError, match=f"JSON nested deeper than {depth - 1} levels"):
        loads_json(text, max_depth=depth - 1)
    text = '[' * (depth - 1) + '"[[[[[[[[[[[[[[[[[[[[[[[["' + ']' * (depth - 1)
    assert loads_json(text, max_depth=depth - 1) == json.loads(text)


# ---------------------------------------------------------------------------------------------
# editions: parsed once per process

def test_edition_files_are_parsed_once(monkeypatch, tmp_path):
    calls = []
    real = safeload.load_yaml
    monkeypatch.setattr(safeload, "load_yaml", lambda p, **kw: calls.append(Path(p)) or real(p, **kw))
    monkeypatch.setattr(editions, "_PARSED", {})
    monkeypatch.setattr(editions, "_INDEX", {})
    edition_paths()
    first = len(calls)
    assert first == len(list(cfg_dir().glob("*.yaml")))
    for _ in range(3):
        edition_paths()
        load_edition("ctc-demo")
    ids = edition_paths()
    assert "ctc-demo" in ids and "vcm-n0638" in ids
    # the index is built once; loading ctc-demo parsed its includes once more at most
    assert len(calls) == len(set(calls))
    # a changed file is parsed again
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "a.yaml").write_text("id: first\n")
    assert list(edition_paths(folder)) == ["first"]
    (folder / "a.yaml").write_text("id: second\n")
    assert list(edition_paths(folder)) == ["second"]
    (folder / "b.yaml").write_text("abstract: true\n")
    assert list(edition_paths(folder)) == ["second"]


def test_cached_edition_data_is_not_shared(monkeypatch):
    monkeypatch.setattr(editions, "_PARSED", {})
    path = cfg_dir() / "ctc-demo.yaml"
    a = editions._read_yaml(path)
    a["title"] = "changed"
    assert editions._read_yaml(path)["title"] != "changed"


# ---------------------------------------------------------------------------------------------
# one-line messages

@pytest.mark.parametrize("raw, shown", [
    ("a\nb", "a\\nb"), ("a\r\nb", "a\\r\\nb"), ("nul\x00", "nul\\x00"), ("tab\t", "tab\\t"),
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"), ("csi\x9b2J", "csi\\x9b2J"),
    ("del\x7f", "del\\x7f"), ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
    ("bidi\u202eevil\u2066", "bidi\\u202eevil\\u2066"), ("été ✓ 東京", "été ✓ 東京"),
])
def test_one_line(raw, shown):
    assert one_line(raw) == shown


def test_user_error_messages_are_one_line():
    err = UserError("unknown sequence 'A\nB\x1b[31m'", file="sub\n/x.yaml", line=3, where="seq\x00")
    assert str(err) == "sub\\n/x.yaml:3: seq\\x00: unknown sequence 'A\\nB\\x1b[31m'"
    assert "\n" not in str(err) and "\x1b" not in str(err)
