"""The example store: appends, journal patches, rewrites, strict reads and id assignment."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from aitelier import Project
from aitelier.errors import DataError, NotFound
from aitelier.store.jsonl import TORN_TAIL
from aitelier.store.store import content_key


# -- append -------------------------------------------------------------------------------------------------------
def test_append_assigns_ids_and_writes_canonical_lines(project: Project, store_conv) -> None:
    result = project.store.append([store_conv(1), {**store_conv(2), "rating": 9, "source": "import"}])
    assert result.ids == [1, 2] and result.duplicates == []
    lines = project.examples_path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == ["id", "messages", "rating", "createdAt", "version"]
    assert first["rating"] is None and first["version"] == 1 and first["createdAt"].endswith("Z")
    second = json.loads(lines[1])
    assert second["rating"] == 9 and second["ratedAt"] == second["createdAt"] and second["source"] == "import"


def test_duplicates_are_added_and_reported(project: Project, store_conv) -> None:
    project.store.append([store_conv(1)])
    result = project.store.append([store_conv(1), store_conv(2), store_conv(2)])
    assert result.ids == [2, 3, 4]
    assert result.duplicates == [(2, 1), (4, 3)]
    known = project.store.known_conversations()
    assert known[content_key(store_conv(2)["messages"])] == 3
    assert content_key(store_conv(99)["messages"]) not in known


def test_append_after_a_line_without_final_newline_starts_a_new_line(
    project: Project, jline, write_lines
) -> None:
    write_lines(project, jline(1), tail=b"")
    project.store.append([{"messages": [{"role": "user", "content": "x"}]}])
    lines = project.examples_path.read_bytes().split(b"\n")
    assert lines[0] == jline(1) and json.loads(lines[1])["id"] == 2 and lines[2] == b""


def test_removed_ids_are_never_reused(filled10: Project, store_conv) -> None:
    filled10.store.remove(10)
    filled10.store.remove(9)
    assert filled10.store.append([store_conv("new")]).ids == [11]
    # a fresh Project object (another process) sees the same high-water mark
    assert Project.find(filled10.root).store.append([store_conv("newer")]).ids == [12]
    assert Project.find(filled10.root).config["nextId"] == 11


def test_max_id_reads_unusual_lines_too(project: Project, jline, write_lines) -> None:
    write_lines(
        project,
        jline(3),
        b'{"messages":[{"role":"user","content":"x"}], "id": 40}',
        b' {"id":7,"messages":[]}',
    )
    assert project.store.max_id() == 40
    # a JSON object that is not a valid example still keeps its id from being handed out
    write_lines(project, jline(3), b'{"id":60,"messages":"oops"}', b"not json")
    assert project.store.max_id() == 60


# -- reading --------------------------------------------------------------------------------------------------------
def test_scan_reports_every_problem_and_read_refuses(project: Project, jline, write_lines) -> None:
    write_lines(project, jline(1), b"{bad", jline(2, rating=11), jline(1), b'"text"')
    for full in (False, True):
        result = project.store.read(full=full, strict=False)
        assert result.ids == [1]
        where = str(project.examples_path)
        assert [str(p) for p in result.problems] == [
            f"{where}:2: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
            f"{where}:3: `rating`: expected int <= 10, got 11",
            f"{where}:4: duplicate id 1 (first on line 1)",
            f"{where}:5: expected a JSON object, got string",
        ]
    with pytest.raises(DataError) as e:
        project.store.read()
    assert len(e.value.problems) == 4 and "and 3 more problem(s)" in str(e.value)


def test_missing_final_newline_does_not_block_reading(project: Project, jline, write_lines) -> None:
    write_lines(project, jline(1), jline(2), tail=b"")
    assert project.store.read().ids == [1, 2]
    assert [ex.id for ex in project.store.read(full=True).examples()] == [1, 2]


def test_a_lenient_read_keeps_every_valid_example(project: Project, jline, write_lines) -> None:
    write_lines(project, jline(1), b"oops", jline(2))
    with pytest.raises(DataError, match=":2: invalid JSON"):
        project.store.read()
    snap = project.store.read(strict=False)
    assert snap.ids == [1, 2] and [p.line for p in snap.problems] == [2]


def test_get(filled10: Project) -> None:
    ex = filled10.store.read().get(4)
    assert ex.rating == 4 and ex.line == 4 and ex.raw is not None
    with pytest.raises(NotFound):
        filled10.store.read().get(99)


def test_the_light_view_skips_conversations_and_a_record_is_checked_when_asked_for(
    project: Project, jline, write_lines
) -> None:
    write_lines(project, jline(1), b'{"id":2,"messages":[{"role":"bot","content":"x"}],"rating":5}')
    light = project.store.read()
    assert light.ids == [1, 2] and light.ratings == [None, 5]
    with pytest.raises(
        DataError, match=r":2: `messages\[0\].role`: role 'bot' is not one of system, user, assistant"
    ):
        light.get(2)
    with pytest.raises(DataError, match=":2: "):
        project.store.read(full=True)


def test_reading_a_project_without_data_file(project: Project) -> None:
    project.examples_path.unlink()
    assert len(project.store.read()) == 0
    assert project.store.max_id() == 0


# -- journal --------------------------------------------------------------------------------------------------------
def test_patches_apply_on_read_and_compact_folds_them(filled10: Project) -> None:
    store = filled10.store
    before = filled10.examples_path.read_bytes()
    store.patch(3, {"rating": 9, "ratedAt": "2026-02-02T00:00:00Z"})
    store.patch(3, {"rating": 10})
    store.patch(5, {"split": "val"}, unset=["rating"])
    assert filled10.examples_path.read_bytes() == before  # patches never touch examples.jsonl
    snap = store.read()
    assert snap.get(3).rating == 10 and snap.get(3).data["ratedAt"] == "2026-02-02T00:00:00Z"
    assert snap.get(5).rating is None and snap.get(5).split == "val"
    by_id = {ex.id: ex.data for ex in store.read(full=True).examples()}
    assert by_id[3]["rating"] == 10 and "rating" not in by_id[5]
    assert snap.patches == 3
    assert store.compact() == 3
    assert not store.has_pending_journal() and not store.journal_path.exists()
    after = filled10.examples_path.read_bytes().split(b"\n")
    changed = [i for i, (a, b) in enumerate(zip(before.split(b"\n"), after, strict=True)) if a != b]
    assert changed == [2, 4]  # only the two patched lines differ
    assert store.read().get(3).rating == 10 and store.compact() == 0


def test_patch_of_a_removed_example_is_ignored_and_reported(filled10: Project) -> None:
    filled10.store.patch(2, {"rating": 1})
    filled10.store.remove(2)
    filled10.store.patch(2, {"rating": 3})
    snap = filled10.store.read()  # not blocking: no data is in doubt
    assert snap.ids == [1, 3, 4, 5, 6, 7, 8, 9, 10]
    assert [(p.example_id, p.message) for p in snap.problems] == [
        (2, "example 2 is not in examples.jsonl; the pending change is ignored")
    ]
    filled10.store.compact()  # the fold drops it
    assert filled10.store.read().problems == []


def test_torn_journal_tail_is_ignored_then_cut_by_the_next_patch(filled10: Project) -> None:
    store = filled10.store
    store.patch(1, {"rating": 2})
    with open(store.journal_path, "ab") as f:
        f.write(b'{"id":4,"set":{"rat')  # a write that never finished
    result = store.read()
    assert [(p.line, p.message, p.fixable) for p in result.problems] == [(2, TORN_TAIL, True)]
    assert result.get(1).rating == 2 and result.get(4).rating == 4  # reading still works
    store.patch(6, {"rating": 1})
    assert store.journal_path.read_bytes() == b'{"id":1,"set":{"rating":2}}\n{"id":6,"set":{"rating":1}}\n'
    assert store.read().problems == []


def test_invalid_patches_are_reported(filled10: Project) -> None:
    store = filled10.store
    store.journal_path.write_bytes(
        b'{"id":1,"set":{"rating":3}}\n[1]\n{"id":"2"}\n{"id":3,"set":[]}\n{"id":4,"unset":"rating"}\n'
        b'{"id":5,"set":{"id":9}}\nnope\n{"id":6,"set":{"rating":42}}\n'
    )
    problems = store.read(strict=False).problems
    got = [(p.line, p.message) for p in problems]
    assert [n for n, _ in got[:6]] == [2, 3, 4, 5, 6, 7]
    assert all("not a journal patch" in m for _, m in got[:5]) and got[5][1].startswith("invalid JSON")
    assert got[6][0] is None and "makes example 6 invalid" in got[6][1] and problems[6].example_id == 6
    with pytest.raises(DataError):
        store.read()


# -- rewriting --------------------------------------------------------------------------------------------------------
def test_remove(filled10: Project) -> None:
    gone = filled10.store.remove(3)
    assert gone.id == 3
    with pytest.raises(NotFound):
        filled10.store.remove(3)
    assert 3 not in filled10.store.read().ids


def test_rewrite_refuses_a_malformed_file_and_leaves_it_alone(project: Project, jline, write_lines) -> None:
    data = write_lines(project, jline(1), b"{", jline(2))
    with pytest.raises(DataError):
        project.store.rewrite(lambda snap: {0: {"rating": 3}})
    assert project.examples_path.read_bytes() == data


def test_a_patch_that_would_make_an_example_invalid_is_refused(filled10: Project) -> None:
    with pytest.raises(DataError, match="rating"):
        filled10.store.patch(1, {"rating": 11})
    with pytest.raises(DataError, match="createdAt"):
        filled10.store.patch(1, {"createdAt": "yesterday"})
    assert not filled10.store.has_pending_journal()


@st.composite
def hand_written_file(draw) -> list[bytes]:
    """Lines as a person or the npm tool may write them: spacing, key order and escaping our writer never uses."""
    lines = []
    for i in range(1, draw(st.integers(1, 8)) + 1):
        rec = {
            "id": i,
            "messages": [{"role": "user", "content": f"q{i} ü"}],
            "rating": draw(st.none() | st.integers(1, 10)),
        }
        if draw(st.booleans()):
            rec = dict(reversed(list(rec.items())))
        spaced = draw(st.booleans())
        separators = (", ", ": ") if spaced else (",", ":")
        lines.append(json.dumps(rec, ensure_ascii=spaced, separators=separators).encode())
    return lines


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hand_written_file(), st.data())
def test_unchanged_lines_stay_byte_identical_through_a_rewrite(
    project: Project, lines: list[bytes], data
) -> None:
    project.examples_path.write_bytes(b"\n".join(lines) + b"\n")
    target = data.draw(st.integers(1, len(lines)))
    rating = data.draw(st.integers(1, 10))
    project.store.rewrite(lambda snap: {snap.find(target): {"rating": rating}})
    after = project.examples_path.read_bytes().split(b"\n")[:-1]
    assert len(after) == len(lines)
    for i, (old, new) in enumerate(zip(lines, after, strict=True), 1):
        if i == target:
            assert json.loads(new)["rating"] == rating
        else:
            assert new == old


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hand_written_file(), st.data())
def test_a_rewrite_with_many_edits_changes_only_the_edited_lines(
    project: Project, lines: list[bytes], data
) -> None:
    """Removals, new splits (added at the end of a line's bytes), other changes and a pending journal patch in one
    rewrite, on a file that may lack its final newline: every other line is copied byte for byte."""
    final_newline = data.draw(st.booleans())
    project.examples_path.write_bytes(b"\n".join(lines) + (b"\n" if final_newline else b""))
    kinds = data.draw(
        st.lists(
            st.sampled_from(["keep", "remove", "split", "rating"]), min_size=len(lines), max_size=len(lines)
        )
    )
    patched = data.draw(st.none() | st.integers(1, len(lines)))
    if patched is not None:
        project.store.patch(patched, {"tags": ["checked"]})
    edits = {"remove": None, "split": {"split": "val"}, "rating": {"rating": 3}}
    project.store.rewrite(
        lambda snap: {snap.find(i): edits[k] for i, k in enumerate(kinds, 1) if k != "keep"}
    )
    data_after = project.examples_path.read_bytes()
    if patched is None and set(kinds) == {"keep"}:
        assert data_after == b"\n".join(lines) + (b"\n" if final_newline else b"")  # nothing to write
        return
    assert data_after.endswith(b"\n") or set(kinds) == {"remove"}
    after = data_after.split(b"\n")[:-1]
    expected_ids = [i for i, k in enumerate(kinds, 1) if k != "remove"]
    assert [json.loads(line)["id"] for line in after] == expected_ids
    for new, i in zip(after, expected_ids, strict=True):
        old, kind = lines[i - 1], kinds[i - 1]
        old_obj, new_obj = json.loads(old), json.loads(new)
        if i == patched:
            assert new_obj["tags"] == ["checked"]
            del new_obj["tags"]
        if kind == "keep" and i != patched:
            assert new == old
        elif kind == "split" and i != patched:
            assert new == old[:-1] + b',"split":"val"}'
        else:
            assert new_obj == {**old_obj, **(edits.get(kind) or {})}


# -- random sequences of operations -----------------------------------------------------------------------------------
class StoreMachine(RuleBasedStateMachine):
    """Any sequence of append/patch/compact/remove keeps ids unique, never reuses one and loses nothing."""

    @initialize()
    def setup(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ait-store-"))
        self.project = Project.create(self.dir / "p", name="m", provider="together")
        self.model: dict[int, int | None] = {}  # id -> rating
        self.ever: set[int] = set()
        self.counter = 0

    def teardown(self) -> None:
        if hasattr(self, "dir"):
            shutil.rmtree(self.dir, ignore_errors=True)

    @rule(n=st.integers(1, 3), rating=st.none() | st.integers(1, 10))
    def append(self, n: int, rating: int | None) -> None:
        convs = []
        for _ in range(n):
            self.counter += 1
            convs.append({"messages": [{"role": "user", "content": f"c{self.counter}"}], "rating": rating})
        ids = self.project.store.append(convs).ids
        assert len(ids) == n
        assert not (set(ids) & self.ever), "an id was reused"
        assert min(ids) > max(self.ever, default=0)
        for i in ids:
            self.model[i] = rating
            self.ever.add(i)

    @rule(data=st.data(), rating=st.none() | st.integers(1, 10))
    def patch(self, data, rating: int | None) -> None:
        if not self.model:
            return
        ident = data.draw(st.sampled_from(sorted(self.model)))
        if rating is None:
            self.project.store.patch(ident, {}, unset=["rating"])
        else:
            self.project.store.patch(ident, {"rating": rating})
        self.model[ident] = rating

    @rule()
    def compact(self) -> None:
        self.project.store.compact()

    @rule(data=st.data())
    def remove(self, data) -> None:
        if not self.model:
            return
        ident = data.draw(st.sampled_from(sorted(self.model)))
        self.project.store.remove(ident)
        del self.model[ident]

    @invariant()
    def matches_model(self) -> None:
        if not hasattr(self, "project"):
            return
        snap = self.project.store.read()
        ids = snap.ids
        assert len(ids) == len(set(ids))
        assert dict(zip(ids, snap.ratings, strict=True)) == self.model


StoreMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=15, deadline=None)
test_random_operation_sequences = StoreMachine.TestCase


# -- the derived cache: the next id without reading the file ----------------------------------------------------------
def no_read(*args, **kwargs):
    raise AssertionError("the file was read although the cache was valid")


def test_consecutive_appends_do_not_read_the_file(
    filled10: Project, store_conv, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert filled10.store.append([store_conv("a")]).ids == [11]  # the first one reads (and remembers)
    monkeypatch.setattr(type(filled10.store), "read", no_read)
    assert filled10.store.append([store_conv("b")]).ids == [12]
    assert filled10.store.append([store_conv("c")]).ids == [13]
    assert Project.find(filled10.root).store.max_id() == 13  # another process sees the same cache


def test_a_change_by_another_program_invalidates_the_cache(filled10: Project, jline, store_conv) -> None:
    assert filled10.store.max_id() == 10
    with open(filled10.examples_path, "ab") as f:  # the npm tool appends without our lock or cache
        f.write(jline(50) + b"\n")
    assert filled10.store.max_id() == 50
    # an in-place edit of the same size, with the modification time put back, still changes the ctime
    data = filled10.examples_path.read_bytes()
    st = filled10.examples_path.stat()
    filled10.examples_path.write_bytes(data.replace(b'{"id":50,', b'{"id":70,'))
    os.utime(filled10.examples_path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert filled10.store.max_id() == 70
    assert filled10.store.append([store_conv("x")]).ids == [71]


def test_a_broken_or_missing_cache_only_costs_a_read(filled10: Project, store_conv) -> None:
    filled10.store.max_id()
    for junk in (b"", b"{", b"[]", b'{"file":[1],"maxId":"9"}'):
        filled10.store.cache_path.write_bytes(junk)
        assert filled10.store.max_id() == 10
    filled10.store.cache_path.unlink()
    assert filled10.store.append([store_conv("z")]).ids == [11]


def test_a_rewrite_refreshes_the_cache(filled10: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    filled10.store.remove(10)  # the rewrite gives examples.jsonl a new inode
    monkeypatch.setattr(type(filled10.store), "read", no_read)
    assert filled10.store.max_id() == 9
    ids = filled10.store.append(
        [{"messages": [{"role": "user", "content": "n"}]}], check_duplicates=False
    ).ids
    assert ids == [11]  # 10 stays used
