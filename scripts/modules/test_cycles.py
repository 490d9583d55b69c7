"""The import-cycle checker finds cycles, passes a DAG, and reads Rust's module system as the
compiler does: `mod` declarations and their files, `super::`/`self::`/`crate::` paths, use trees,
re-exports, comments, strings and test code (run by scripts/check-module-cycles first):

    python3 -m unittest discover -s scripts/modules
"""

import tempfile
import textwrap
import unittest
from pathlib import Path

import cycles


class Workspace:
    """A crate written into a temporary directory."""

    def __init__(self, files):
        self._dir = tempfile.TemporaryDirectory()
        self.root = Path(self._dir.name)
        for name, text in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))

    def cycles(self, root="src/lib.rs"):
        """Each cycle's files, relative to the root."""
        return [
            [str(Path(file).relative_to(self.root)) for file in cycle.files]
            for cycle in cycles.crate_cycles(self.root / root)
        ]

    def edges(self, root="src/lib.rs"):
        """Every edge as (from, to), relative to the root."""
        crate = cycles.Crate(self.root / root)
        return sorted(
            (str(Path(a).relative_to(self.root)), str(Path(b).relative_to(self.root)))
            for a, b in crate.edges()
        )

    def close(self):
        self._dir.cleanup()


def crate(files):
    workspace = Workspace(files)
    unittest.addModuleCleanup(workspace.close)
    return workspace


class Cycles(unittest.TestCase):
    def test_two_modules_using_each_other_are_a_cycle(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "use crate::b::Bee;\npub struct Ay;\n",
                "src/b.rs": "use crate::a::Ay;\npub struct Bee;\n",
            }
        )
        self.assertEqual(found.cycles(), [["src/a.rs", "src/b.rs"]])

    def test_a_longer_loop_is_one_cycle_with_the_line_of_each_edge(self):
        workspace = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\nmod c;\nmod d;\n",
                "src/a.rs": "use crate::b::B;\n",
                "src/b.rs": "\n\nfn f() { crate::c::run(); }\n",
                "src/c.rs": "use crate::{a::A, d::D};\n",
                "src/d.rs": "pub struct D;\n",
            }
        )
        (cycle,) = cycles.crate_cycles(workspace.root / "src/lib.rs")
        names = [Path(file).name for file in cycle.files]
        self.assertEqual(names, ["a.rs", "b.rs", "c.rs"])
        edges = [(Path(a).name, line, Path(b).name, text) for a, line, b, text in cycle.edges]
        self.assertIn(("b.rs", 3, "c.rs", "crate::c::run"), edges)
        self.assertIn(("c.rs", 1, "a.rs", "crate::a::A"), edges)
        self.assertNotIn("d.rs", [edge[2] for edge in edges])

    def test_a_dag_passes(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\nmod c;\npub use a::A;\n",
                "src/a.rs": "use crate::b::B;\nuse crate::c::C;\npub struct A;\n",
                "src/b.rs": "use crate::c::C;\npub struct B;\n",
                "src/c.rs": "pub struct C;\n",
            }
        )
        self.assertEqual(found.cycles(), [])
        self.assertEqual(
            found.edges(),
            [
                ("src/a.rs", "src/b.rs"),
                ("src/a.rs", "src/c.rs"),
                ("src/b.rs", "src/c.rs"),
                ("src/lib.rs", "src/a.rs"),
            ],
        )


class ModDeclarations(unittest.TestCase):
    def test_declaring_a_module_is_not_using_it(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\npub struct Root;\n",
                "src/a.rs": "use crate::Root;\n",
            }
        )
        self.assertEqual(found.cycles(), [])
        self.assertEqual(found.edges(), [("src/a.rs", "src/lib.rs")])

    def test_module_files_are_found_in_both_layouts_and_nested(self):
        found = crate(
            {
                "src/main.rs": "mod store;\nmod net;\n",
                "src/store/mod.rs": "mod memory;\npub use memory::Memory;\n",
                "src/store/memory.rs": "use crate::net::http::Client;\npub struct Memory;\n",
                "src/net.rs": "pub mod http;\n",
                "src/net/http.rs": "use crate::store::Memory;\npub struct Client;\n",
            }
        )
        self.assertEqual(
            found.cycles("src/main.rs"), [["src/net/http.rs", "src/store/memory.rs"]]
        )

    def test_a_declared_module_without_a_file_is_an_error(self):
        workspace = crate({"src/lib.rs": "mod missing;\n"})
        with self.assertRaisesRegex(cycles.SourceError, "mod missing; has no file"):
            workspace.cycles()

    def test_inline_modules_belong_to_their_file(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "mod wire {\n    use crate::b::B;\n}\npub struct A;\n",
                "src/b.rs": "pub use crate::a::A;\npub struct B;\n",
            }
        )
        self.assertEqual(found.cycles(), [["src/a.rs", "src/b.rs"]])


class Super(unittest.TestCase):
    def test_a_child_using_its_parent_that_uses_it_is_a_cycle(self):
        found = crate(
            {
                "src/lib.rs": "mod events;\n",
                "src/events/mod.rs": "mod log;\npub struct Event;\nfn f() { log::write(); }\n",
                "src/events/log.rs": "use super::Event;\npub fn write() {}\n",
            }
        )
        self.assertEqual(found.cycles(), [["src/events/log.rs", "src/events/mod.rs"]])

    def test_super_super_and_self_paths(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod z;\n",
                "src/a/mod.rs": "mod b;\n",
                "src/a/b/mod.rs": "mod c;\nfn f() { self::c::g(); }\n",
                "src/a/b/c.rs": "use super::super::super::z::Z;\npub fn g() {}\n",
                "src/z.rs": "pub struct Z;\n",
            }
        )
        self.assertEqual(
            found.edges(), [("src/a/b/c.rs", "src/z.rs"), ("src/a/b/mod.rs", "src/a/b/c.rs")]
        )

    def test_a_tests_module_using_super_is_its_own_file(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\n",
                "src/a.rs": "pub fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
            }
        )
        self.assertEqual(found.edges(), [])


class Paths(unittest.TestCase):
    def test_re_exports_lead_to_where_the_item_lives(self):
        # lib re-exports A from a; b names it through the root and through its parent: the edge
        # goes to a, and the root's re-export makes no cycle with b.
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\npub use a::A;\nfn f() { b::g(); }\n",
                "src/a.rs": "pub struct A;\n",
                "src/b.rs": "use crate::A;\nuse super::A as Same;\npub fn g() {}\n",
            }
        )
        self.assertEqual(found.cycles(), [])
        self.assertIn(("src/b.rs", "src/a.rs"), found.edges())
        self.assertNotIn(("src/b.rs", "src/lib.rs"), found.edges())

    def test_use_trees_with_braces_self_aliases_and_globs(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\nmod c;\nmod d;\nmod e;\n",
                "src/a.rs": "use crate::{b::{self, B as Bee}, c::*};\nuse crate::d;\n",
                "src/b.rs": "pub struct B;\n",
                "src/c.rs": "pub struct C;\n",
                "src/d.rs": "pub mod inner;\n",
                "src/d/inner.rs": "pub fn f() {}\n",
                "src/e.rs": "use crate::d;\nfn g() { d::inner::f(); }\n",
            }
        )
        edges = found.edges()
        for target in ("src/b.rs", "src/c.rs", "src/d.rs"):
            self.assertIn(("src/a.rs", target), edges)
        # a path through an imported module lands in the module it names
        self.assertIn(("src/e.rs", "src/d/inner.rs"), edges)

    def test_comments_doc_links_and_strings_are_not_paths(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "use crate::b::B;\n",
                "src/b.rs": """\
                    //! See [`A`](crate::a::A).
                    /// Also crate::a::A, /* and */ crate::a::A.
                    /* crate::a::A /* nested */ crate::a::A */
                    pub struct B;
                    const S: &str = "crate::a::A is a type";
                    const R: &str = r#"crate::a::A "quoted" "#;
                    const C: char = '"';
                    fn f<'a>(x: &'a str) -> &'a str { x }
                """,
            }
        )
        self.assertEqual(found.cycles(), [])

    def test_attribute_strings_holding_a_path_are_paths(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "use crate::b::B;\npub fn millis() {}\n",
                "src/b.rs": """\
                    #[derive(Deserialize)]
                    pub struct B {
                        #[serde(with = "crate::a::millis")]
                        t: u64,
                    }
                """,
            }
        )
        self.assertEqual(found.cycles(), [["src/a.rs", "src/b.rs"]])

    def test_test_code_is_not_read(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\n#[cfg(test)]\nmod fixtures;\n",
                "src/a.rs": "use crate::b::B;\npub struct A;\n",
                "src/b.rs": """\
                    pub struct B;
                    #[cfg(test)]
                    use crate::a::A;
                    #[cfg(test)]
                    fn helper() -> crate::a::A { crate::a::A }
                    #[cfg(test)]
                    mod tests {
                        use crate::a::A;
                        const S: &str = "crate::a::A";
                    }
                """,
            }
        )
        self.assertEqual(found.cycles(), [])

    def test_precise_capturing_is_not_an_import_and_crate_paths_in_macros_are_skipped(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "use crate::b::B;\npub fn f() -> impl Fn() + use<> { || () }\n",
                "src/b.rs": "pub struct B;\nmacro_rules! m { () => { $crate::a::f() }; }\n",
            }
        )
        self.assertEqual(found.cycles(), [])

    def test_other_crates_and_the_prelude_are_no_edges(self):
        found = crate(
            {
                "src/lib.rs": "mod a;\nuse std::sync::Arc;\nuse serde::{Deserialize, Serialize};\n",
                "src/a.rs": "use ::std::fmt;\nfn f() -> Option<String> { String::new().into() }\n",
            }
        )
        self.assertEqual(found.edges(), [])


class Allowlist(unittest.TestCase):
    def setUp(self):
        self.workspace = crate(
            {
                "src/lib.rs": "mod a;\nmod b;\n",
                "src/a.rs": "use crate::b::B;\npub struct A;\n",
                "src/b.rs": "use crate::a::A;\npub struct B;\n",
            }
        )
        self.crates = [("demo (lib)", self.workspace.root / "src/lib.rs")]

    def check(self, allowed):
        return cycles.check(self.workspace.root, self.crates, [frozenset(a) for a in allowed])

    def test_an_unlisted_cycle_fails_and_is_reported_with_its_files(self):
        lines, ok = self.check([])
        self.assertFalse(ok)
        self.assertIn("demo (lib): import cycle among 2 files (NOT ALLOWED):", lines)
        self.assertIn("  src/a.rs", lines)
        self.assertIn("    src/a.rs:1 -> src/b.rs  (crate::b::B)", lines)

    def test_a_listed_cycle_passes(self):
        lines, ok = self.check([["src/a.rs", "src/b.rs"]])
        self.assertTrue(ok, lines)

    def test_a_listed_cycle_that_is_gone_or_different_fails(self):
        lines, ok = self.check([["src/a.rs", "src/b.rs"], ["src/x.rs", "src/y.rs"]])
        self.assertFalse(ok)
        self.assertIn("does not exist", lines[-1])
        _, ok = self.check([["src/a.rs", "src/b.rs", "src/lib.rs"]])
        self.assertFalse(ok)

    def test_the_allowlist_file_has_comments_and_one_cycle_a_line(self):
        path = self.workspace.root / "allowed"
        path.write_text("# why\nsrc/b.rs src/a.rs  # the reason\n\n")
        self.assertEqual(cycles.read_allowlist(path), [frozenset({"src/a.rs", "src/b.rs"})])


if __name__ == "__main__":
    unittest.main()
