#!/usr/bin/env python3
"""Tests of tools/tabula_as_quire.py that need no java: canned tabula-java 0.9.0 JSON (cut from
its real output) through the conversion, and the whole command with a stand-in `java`.

usage: python3 tools/test_tabula_as_quire.py [-v]     (make test runs it)
"""
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tabula_as_quire as shim  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMPTY = {"top": 0.0, "left": 0.0, "width": 0.0, "height": 0.0, "text": ""}

# `-g` (stream) on a generated booktabs page: the table's own rectangle is (0, 0, right,
# bottom), cells carry their boxes and a trailing space.
STREAM = {"extraction_method": "basic", "top": 0.0, "left": 0.0, "width": 510.34,
          "height": 186.75, "data": [
              [{"top": 105.6, "left": 101.58, "width": 33.526, "height": 7.16, "text": "Année "},
               {"top": 105.6, "left": 180.77, "width": 53.836, "height": 7.16,
                "text": "Score ± CI "}, EMPTY],
              [{"top": 119.93, "left": 101.58, "width": 24.0665, "height": 7.62, "text": "West "},
               {"top": 119.93, "left": 180.78, "width": 54.7065, "height": 7.62,
                "text": "408.2 ± 3.6 "},
               {"top": 119.93, "left": 242.07, "width": 54.7065, "height": 7.62,
                "text": "656.2 ± 6.2 "}]]}
# `-r` (lattice) on tabula's spanning_cells.pdf: a merged cell's other positions are
# placeholders with a zero box.
LATTICE = {"extraction_method": "spreadsheet", "top": 146.51932, "left": 119.78943,
           "width": 355.3122, "height": 270.5516, "data": [
               [{"top": 146.51932, "left": 119.78943, "width": 355.3122, "height": 12.9387,
                 "text": "Improved operation scenario"}, EMPTY, EMPTY],
               [{"top": 159.458, "left": 119.78943, "width": 121.9268, "height": 12.7854,
                 "text": "Volume servers in:"},
                {"top": 159.458, "left": 241.71623, "width": 46.6643, "height": 12.7854,
                 "text": "2007"},
                {"top": 159.458, "left": 288.3805, "width": 46.6635, "height": 12.7854,
                 "text": "2008"}]]}
BLANK = {"extraction_method": "spreadsheet", "top": 10.0, "left": 10.0, "width": 50.0,
         "height": 20.0, "data": [[{"top": 10.0, "left": 10.0, "width": 50.0, "height": 20.0,
                                     "text": " "}]]}


class ConvertTables(unittest.TestCase):
    def test_stream__text_stripped_and_bbox_from_cells(self):
        (t,) = shim.convert_tables([STREAM], 3)
        self.assertEqual(t["page"], 3)
        self.assertEqual(t["rows"], [["Année", "Score ± CI", ""],
                                     ["West", "408.2 ± 3.6", "656.2 ± 6.2"]])
        # not tabula's (0, 0, 510.34, 186.75): the cells' extent
        self.assertEqual(t["bbox"], [101.58, 105.6, 296.78, 127.55])
        self.assertEqual(t["engine"], "tabula-basic")

    def test_lattice__placeholders_are_empty_cells(self):
        (t,) = shim.convert_tables([LATTICE], 1)
        self.assertEqual(t["rows"], [["Improved operation scenario", "", ""],
                                     ["Volume servers in:", "2007", "2008"]])
        self.assertEqual(t["bbox"], [119.79, 146.52, 475.1, 172.24])
        self.assertEqual(t["engine"], "tabula-spreadsheet")

    def test_tables_without_text_are_dropped(self):
        tables = shim.convert_tables([BLANK, STREAM, {"data": []}, "junk"], 1)
        self.assertEqual([t["engine"] for t in tables], ["tabula-basic"])

    def test_ragged_rows_kept_as_tabula_gives_them(self):
        t = {"extraction_method": "basic", "data": [[{"text": "a", "top": 1, "left": 1,
                                                        "width": 2, "height": 2}], []]}
        (out,) = shim.convert_tables([t], 1)
        self.assertEqual(out["rows"], [["a"], []])
        self.assertEqual(out["bbox"], [1.0, 1.0, 3.0, 3.0])

    def test_nothing_in__nothing_out(self):
        self.assertEqual(shim.convert_tables([], 1), [])
        self.assertEqual(shim.convert_tables(None, 1), [])


class CommandLine(unittest.TestCase):
    def test_quire_options_ignored(self):
        o = shim.parse_args(["convert", "--format", "json", "--pages", "2", "--db", "x.db",
                             "--password=pw", "-q", "--engine", "text", "--config", "c",
                             "--model=m", "a.pdf", "b.pdf"])
        self.assertEqual((o["pages"], o["password"], o["files"]), ("2", "pw", ["a.pdf", "b.pdf"]))

    def test_mode__option_then_environment_then_guess(self):
        old = os.environ.pop("TABULA_MODE", None)
        try:
            self.assertEqual(shim.parse_args(["convert", "a.pdf"])["mode"], "guess")
            os.environ["TABULA_MODE"] = "lattice"
            self.assertEqual(shim.parse_args(["convert", "a.pdf"])["mode"], "lattice")
            o = shim.parse_args(["convert", "--tabula-mode", "stream", "a.pdf"])
            self.assertEqual(o["mode"], "stream")
        finally:
            os.environ.pop("TABULA_MODE", None)
            if old is not None:
                os.environ["TABULA_MODE"] = old

    def test_usage_errors(self):
        for argv in ([], ["batch", "d"], ["convert"], ["convert", "--bogus", "a.pdf"],
                     ["convert", "--pages"], ["convert", "--pages", "x", "a.pdf"],
                     ["convert", "--tabula-mode", "magic", "a.pdf"]):
            with self.assertRaises(shim.UsageError, msg=argv):
                shim.parse_args(argv)

    def test_pages(self):
        self.assertEqual(shim.parse_pages(None, 3), [1, 2, 3])
        self.assertEqual(shim.parse_pages("2", 3), [2])
        self.assertEqual(shim.parse_pages("1-2,3,9", 3), [1, 2, 3])
        self.assertEqual(shim.parse_pages("2-", 4), [2, 3, 4])
        self.assertEqual(shim.parse_pages("5", 3), [])
        with self.assertRaises(shim.UsageError):
            shim.parse_pages("3-1", 5)


FAKE_JAVA = r"""#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_JAVA_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if os.environ.get("FAKE_JAVA_FAIL"):
    print("WARNING: noise", file=sys.stderr)
    print("Exception in thread \"main\" java.io.IOException: Error decrypting document",
          file=sys.stderr)
    print("\tat org.apache.pdfbox.Foo(Foo.java:1)", file=sys.stderr)
    sys.exit(1)
print(os.environ["FAKE_JAVA_OUT"])
"""


@unittest.skipUnless(shutil.which("pdfinfo"), "pdfinfo (poppler-utils) is missing")
class WholeCommand(unittest.TestCase):
    """main() with a stand-in java that prints canned JSON, on a shipped example PDF."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tabula-shim-test-")
        self.java = os.path.join(self.tmp, "java")
        with open(self.java, "w") as f:
            f.write(FAKE_JAVA)
        os.chmod(self.java, 0o755)
        self.jar = os.path.join(self.tmp, "tabula-java.jar")
        open(self.jar, "w").close()
        self.log = os.path.join(self.tmp, "calls")
        self.env = {"JAVA": self.java, "TABULA_JAR": self.jar, "FAKE_JAVA_LOG": self.log,
                    "FAKE_JAVA_OUT": json.dumps([STREAM, BLANK])}
        self.saved = {k: os.environ.get(k) for k in list(self.env) + ["FAKE_JAVA_FAIL",
                                                                      "TABULA_MODE"]}
        os.environ.update(self.env)
        os.environ.pop("FAKE_JAVA_FAIL", None)
        os.environ.pop("TABULA_MODE", None)
        pdfs = sorted(f for f in os.listdir(os.path.join(REPO, "examples"))
                      if f.endswith(".pdf"))
        self.pdf = os.path.join(REPO, "examples", pdfs[0])

    def tearDown(self):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_main(self, argv):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            rc = shim.main(argv)
        return rc, [json.loads(l) for l in out.getvalue().splitlines()], err.getvalue()

    def calls(self):
        with open(self.log) as f:
            return [json.loads(l) for l in f]

    def test_one_page__one_run_quire_shape(self):
        rc, docs, _ = self.run_main(["convert", "--format", "json", "--pages", "1", "--db",
                                     "x.db", "--password", "pw", self.pdf])
        self.assertEqual(rc, 0)
        (doc,) = docs
        self.assertEqual(list(doc), ["path", "sha256", "pages", "tables", "error"])
        self.assertEqual((doc["path"], doc["error"], len(doc["sha256"])), (self.pdf, None, 64))
        self.assertGreaterEqual(doc["pages"], 1)
        (t,) = doc["tables"]
        self.assertEqual((t["page"], t["rows"][1][0]), (1, "West"))
        (call,) = self.calls()
        self.assertEqual(call[call.index("-jar") + 1], self.jar)
        self.assertEqual(call[call.index("-p") + 1], "1")
        self.assertEqual(call[call.index("-s") + 1], "pw")
        self.assertIn("-g", call)
        self.assertEqual(call[-1], self.pdf)

    def test_every_page__one_run_each(self):
        rc, (doc,), _ = self.run_main(["convert", "--tabula-mode", "lattice", self.pdf])
        self.assertEqual(rc, 0)
        calls = self.calls()
        self.assertEqual(len(calls), doc["pages"])
        self.assertEqual([c[c.index("-p") + 1] for c in calls],
                         [str(p) for p in range(1, doc["pages"] + 1)])
        self.assertTrue(all("-r" in c and "-g" not in c for c in calls))
        self.assertEqual([t["page"] for t in doc["tables"]], list(range(1, doc["pages"] + 1)))

    def test_tabula_failure__document_error(self):
        os.environ["FAKE_JAVA_FAIL"] = "1"
        rc, docs, _ = self.run_main(["convert", "--pages", "1", self.pdf, self.pdf])
        self.assertEqual(rc, 1)
        self.assertEqual(len(docs), 2)
        self.assertEqual(docs[0]["tables"], [])
        self.assertIn("tabula failed on page 1 (exit 1)", docs[0]["error"])
        self.assertIn("IOException: Error decrypting document", docs[0]["error"])

    def test_missing_file__document_error(self):
        rc, (doc,), _ = self.run_main(["convert", os.path.join(self.tmp, "none.pdf")])
        self.assertEqual(rc, 1)
        self.assertIn("cannot read", doc["error"])

    def test_missing_jar__usage_error(self):
        os.environ["TABULA_JAR"] = os.path.join(self.tmp, "none.jar")
        rc, docs, err = self.run_main(["convert", self.pdf])
        self.assertEqual((rc, docs), (2, []))
        self.assertIn("fetch-tabula.sh", err)


if __name__ == "__main__":
    unittest.main()
