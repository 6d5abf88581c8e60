"""
train/synth.py - random tables rendered to grayscale images, with their OTSL, cell boxes
and text-line boxes; and text-line tiles for teaching the encoder to read.

Why: quire's model is trained only on synthetic data (no model hub, no real labelled set).
Every sample depends only on its integer seed, so a data set is a seed range and a held-out
set is another range (evaluate.py uses seeds >= 10**9).

Rendering: glyph-cached compositing into a numpy canvas (FreeType through PIL renders each
(font, pixel size, character) once per process; kerning is ignored). The scale is set by the
x-height in pixels at the model input (8-14 px, see README "Legibility"), not by a DPI: a
table's crop is what quire hands the model after rendering the page region at a DPI chosen
for that x-height. The scanned style renders at 2-3x (a 200-300 dpi scan of the page),
rotates slightly, blurs, downsamples, adds noise and JPEG artefacts.

Fonts: discovered at run time (QUIRE_FONT_DIRS, fontconfig's fc-list, the usual font folders,
matplotlib's bundled fonts); nothing is hard-coded. Characters a font lacks are replaced by
their unaccented base letter before the truth is written, so truth always matches the pixels.
"""
import functools
import glob
import io
import os
import random
import re
import subprocess
import unicodedata

import numpy as np
from PIL import Image, ImageFilter, ImageFont

from otsl_vocab import Cell, to_otsl

# --- fonts -----------------------------------------------------------------------------------

SKIP_FONT = ("oblique", "italic", "extralight", "light", "thin", "math", "symbol", "cmsy",
             "cmex", "cmmi", "stixsiz", "stixnonuni", "dingbat", "z003", "d050000l", "emoji",
             "display", "sparks", "caps", "wingding", "webding", "ornament",
             "awesome", "icon", "barcode", "braille")
BOLD_WORDS = ("bold", "-bd", "demi", "semibold", "heavy", "black", "medi")
CHARSET_PROBE = "AaXx0123456789%(),.-"


def _font_files():
    dirs = [d for d in os.environ.get("QUIRE_FONT_DIRS", "").split(":") if d]
    dirs += ["/usr/share/fonts", "/usr/local/share/fonts", os.path.expanduser("~/.fonts"),
             os.path.expanduser("~/.local/share/fonts"), "/usr/share/texmf/fonts",
             "/usr/share/texlive/texmf-dist/fonts/opentype"]
    try:
        import matplotlib
        dirs.append(os.path.join(matplotlib.get_data_path(), "fonts"))
    except Exception:
        pass
    files = set()
    for d in dirs:
        for ext in ("ttf", "otf", "TTF", "OTF"):
            files.update(glob.glob(os.path.join(d, "**", "*." + ext), recursive=True))
    try:
        out = subprocess.run(["fc-list", ":", "file"], capture_output=True, text=True,
                             timeout=20).stdout
        for line in out.splitlines():
            p = line.split(":")[0].strip()
            if p.lower().endswith((".ttf", ".otf")):
                files.add(p)
    except Exception:
        pass
    return sorted(files)


def _covers(font, ch):
    """True when `font` has a glyph for ch (its mask differs from the .notdef box)."""
    try:
        a = font.getmask(ch)
        b = font.getmask("\U0010FFFD")
        return a.size != b.size or bytes(a) != bytes(b)
    except Exception:
        return False


@functools.lru_cache(maxsize=1)
def font_groups():
    """Fonts grouped by family (design sizes, condensed and slanted variants together), so a
    family with many files (Latin Modern) is not drawn more often than one with few."""
    groups = {}
    for f in discover_fonts():
        key = re.sub(r"[0-9]+|condensed|slant|unsl|dunh|prop|lt|quot|cond", "", f["name"])
        groups.setdefault(key, []).append(f)
    return [groups[k] for k in sorted(groups)]


def pick_font(rng):
    return rng.choice(rng.choice(font_groups()))


def discover_fonts():
    """-> list of dicts {name, regular, bold, xh (x-height / pixel size), cover (set)}.
    Regular and bold files of one family are paired by file-name stem."""
    fams = {}
    for path in _font_files():
        stem = os.path.splitext(os.path.basename(path))[0]
        low = stem.lower()
        if any(s in low for s in SKIP_FONT):
            continue
        bold = any(w in low for w in BOLD_WORDS)
        fam = low
        for w in ("-bold", "_bold", "bold", "-regular", "_regular", "regular", "-roman",
                  "roman", "-book", "book", "-medium", "-bd", "-rg", "-"):
            fam = fam.replace(w, "")
        fams.setdefault(fam, {})["bold" if bold else "regular"] = path
    fonts = []
    for fam, d in sorted(fams.items()):
        if "regular" not in d:
            continue
        try:
            f = ImageFont.truetype(d["regular"], 100)
        except Exception:
            continue
        if not all(_covers(f, ch) for ch in CHARSET_PROBE):
            continue
        box = f.getbbox("x")
        xh = (box[3] - box[1]) / 100.0
        if not 0.3 < xh < 0.7:
            continue
        cover = {ch for ch in EXTRA_CHARS if _covers(f, ch)}
        fonts.append({"name": fam, "regular": d["regular"], "bold": d.get("bold"), "xh": xh,
                      "cover": cover})
    if not fonts:
        raise RuntimeError("synth: no usable font found (set QUIRE_FONT_DIRS to a folder of "
                           ".ttf/.otf files, or install fonts-dejavu)")
    return fonts


def _mask_array(core):
    """A FreeType mask (PIL ImagingCore) -> uint8 array (h, w)."""
    w, h = core.size
    if w * h == 0:
        return np.zeros((0, 0), np.uint8)
    try:
        return np.array(Image.Image()._new(core))
    except Exception:  # an older/newer Pillow without _new: the core is a pixel sequence
        return np.frombuffer(bytes(core), np.uint8).reshape(h, w).copy()


class GlyphCache:
    """Per process: (path, px) -> FreeTypeFont, (path, px, ch) -> (mask, dx, dy, advance)."""

    def __init__(self, limit=400000):
        self.fonts, self.glyphs, self.widths, self.limit = {}, {}, {}, limit

    def font(self, path, px):
        key = (path, px)
        f = self.fonts.get(key)
        if f is None:
            f = self.fonts[key] = ImageFont.truetype(path, px)
        return f

    def glyph(self, path, px, ch):
        key = (path, px, ch)
        g = self.glyphs.get(key)
        if g is None:
            f = self.font(path, px)
            if ch == " ":
                mask = np.zeros((0, 0), np.uint8)
                dx = dy = 0
            else:
                m, (dx, dy) = f.getmask2(ch, mode="L")
                mask = _mask_array(m)
            g = (mask, dx, dy, f.getlength(ch))
            if len(self.glyphs) > self.limit:
                self.glyphs.clear()
            self.glyphs[key] = g
        return g

    def metrics(self, path, px):
        """(ascent, descent) in pixels."""
        return self.font(path, px).getmetrics()

    def width(self, path, px, text):
        key = (path, px, text)
        w = self.widths.get(key)
        if w is None:
            w = sum(self.glyph(path, px, ch)[3] for ch in text)
            if len(self.widths) > self.limit:
                self.widths.clear()
            self.widths[key] = w
        return w


GLYPHS = GlyphCache()


def draw_text(canvas, x, y_top, text, path, px, ink=0, bold_fake=False):
    """Composites `text` with its ascent line at y_top; returns the advance in pixels."""
    H, W = canvas.shape
    pen = x
    for ch in text:
        mask, dx, dy, adv = GLYPHS.glyph(path, px, ch)
        if mask.size:
            gx, gy = int(round(pen)) + dx, int(y_top) + dy
            h, w = mask.shape
            x0, y0, x1, y1 = max(gx, 0), max(gy, 0), min(gx + w, W), min(gy + h, H)
            if x1 > x0 and y1 > y0:
                m = mask[y0 - gy:y1 - gy, x0 - gx:x1 - gx]
                if ink:
                    m = (m.astype(np.uint16) * (255 - ink) // 255).astype(np.uint8)
                region = canvas[y0:y1, x0:x1]
                np.minimum(region, 255 - m, out=region)
                if bold_fake and x1 + 1 <= W:
                    region = canvas[y0:y1, x0 + 1:x1 + 1]
                    np.minimum(region, 255 - m, out=region)
        pen += adv
    return pen - x


# --- content ---------------------------------------------------------------------------------

EXTRA_CHARS = "äöüÄÖÜßéèêëàâáåÅæÆøØçñÑíìîïóòôõúùûýœŒšžłŁńśżćęąčřěőű±—–€£¥§°µ×·’…≤≥Δ"
WORDS = ("total revenue cost costs profit margin year quarter region north south east west units "
         "price amount percent change growth net gross sales income expense expenses assets "
         "liabilities equity cash flow operating tax interest dividend share shares market "
         "volume index rate ratio mean median average deviation error sample count population "
         "weight height length width area density pressure temperature speed energy power "
         "capacity output input yield loss gain balance budget forecast actual variance "
         "estimate adjusted reported other items segment product service customer supplier "
         "employees staff hours days months orders returns inventory goodwill depreciation "
         "amortization capital reserves deferred current noncurrent long short term trade "
         "receivables payables provisions research development marketing logistics wages rent "
         "energy water waste emissions survey respondents group control treatment baseline "
         "follow-up dose response patients cases deaths rate age sex male female urban rural "
         "school students teachers grade score test result status notes remarks type class "
         "category level stage phase site station sensor batch lot sample id code reference "
         "of and for in with per by on at to from the a vs. excl. incl. approx. "
         "über café naïve déjà façade groß straße münchen zürich malmö kraków søren "
         "ångström señor coöperation rôle élève œuvre niño fjörd ærø łódź gdańsk brno škoda "
         "año función población crèche müller björn").split()
PLACES = ("Berlin Paris London Madrid Rome Vienna Prague Warsaw Oslo Stockholm Helsinki Dublin "
          "Lisbon Athens Zürich Genève Malmö Kraków Gdańsk Tromsø Ålesund São_Paulo México "
          "Montréal Québec Düsseldorf Köln Nürnberg Århus Reykjavík Bogotá Medellín Asunción "
          "Toronto Chicago Boston Denver Austin Seattle Sydney Perth Auckland Osaka").split()
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
UNITS = ["kg", "m", "km", "h", "s", "%", "°C", "mg/l", "µg", "kWh", "t", "ha", "ms", "MB"]
STATUS = ["Yes", "No", "n/a", "N/A", "—", "–", "-", "approved", "pending", "open", "closed",
          "OK", "✓", "high", "low", "medium", "none", "TBD", "see note", "x", "*"]
COLTYPES = ("int", "neg", "pct", "money", "date", "code", "pm", "dec", "word", "unit")
HEADERS = {
    "int": ["Units", "Count", "Population", "Shipments", "Employees", "Orders", "N", "Cases"],
    "neg": ["Net change", "Profit (loss)", "Balance", "Δ vs prior", "Change", "Result"],
    "pct": ["Share", "Growth", "Margin", "Rate", "%", "Yield", "Change (%)", "Return"],
    "money": ["Price", "Revenue", "Cost", "Budget", "Amount", "Total ($)", "Fee", "Value"],
    "date": ["Date", "Issued", "Deadline", "Updated", "Start", "End", "Period"],
    "code": ["Code", "Ref.", "SKU", "ID", "No.", "Item", "Account"],
    "pm": ["Mean ± SD", "Value ± err", "Score ± CI", "Yield ± SE", "Estimate"],
    "dec": ["Ratio", "Index", "Score", "Mean", "Median", "p-value", "β", "Coef."],
    "word": ["Status", "Notes", "Grade", "Größe", "Type", "Category", "Remarks", "Owner"],
    "unit": ["Weight", "Length", "Duration", "Dose", "Size", "Distance", "Energy"],
}
GROUPS = ["2021", "2022", "2023", "2024", "2025", "Domestic", "Export", "Q1–Q2", "Q3–Q4",
          "Männer", "Frauen", "Actual", "Budget", "Urban", "Rural", "Before", "After",
          "Öffentlich", "Privé", "Men", "Women", "Group A", "Group B", "Control", "Treated",
          "This year", "Last year", "H1", "H2", "Europe", "Americas", "Asia"]


def _thousands(v, sep=","):
    s = f"{abs(v):,}".replace(",", sep)
    return ("-" if v < 0 else "") + s


def _magnitude(rng):
    return rng.randint(1, rng.choice([9, 99, 999, 9999, 99999, 999999, 9999999]))


def pseudo_word(rng):
    """A word of random letters (some digits and accented letters) in the case patterns cells
    use: text no language prior can guess, so a reader must read it letter by letter."""
    chars = []
    for _ in range(rng.randint(2, 9)):
        r = rng.random()
        chars.append(rng.choice("abcdefghijklmnopqrstuvwxyz") if r < 0.85 else
                     rng.choice("0123456789") if r < 0.95 else rng.choice(EXTRA_CHARS[:30]))
    w = "".join(chars)
    r = rng.random()
    return w.capitalize() if r < 0.4 else w.upper() if r < 0.5 else w


def pseudo_text(rng, lo=1, hi=3):
    return " ".join(pseudo_word(rng) for _ in range(rng.randint(lo, hi)))


def phrase(rng, lo=1, hi=3):
    n = rng.randint(lo, hi)
    ws = [rng.choice(WORDS) for _ in range(n)]
    if rng.random() < 0.15:
        ws.insert(rng.randint(0, len(ws)), rng.choice(PLACES).replace("_", " "))
    s = " ".join(ws)
    if rng.random() < 0.8:
        s = s[:1].upper() + s[1:]
    if rng.random() < 0.05:
        s = s.upper()
    return s


def value(rng, t, v):
    """One body value of a column of type t; v keeps a column's format consistent."""
    sep = [",", ",", ",", ".", " ", "\u202f", ""][v % 7] if t != "dec" else ","
    if t == "int":
        return _thousands(_magnitude(rng), sep if sep != "." else ",")
    if t == "neg":
        m = _thousands(_magnitude(rng), sep if sep != "." else ",")
        r = rng.random()
        return f"({m})" if r < 0.35 else (f"-{m}" if r < 0.5 else (f"−{m}" if r < 0.55 else m))
    if t == "pct":
        return [f"{rng.randint(0, 100)}%", f"{rng.randint(-200, 999) / 10:.1f}%",
                f"{rng.randint(0, 100)} %", f"+{rng.randint(0, 999) / 10:.1f}%"][v % 4]
    if t == "money":
        m, c = _thousands(_magnitude(rng)), rng.randint(0, 99)
        return [f"${m}.{c:02d}", f"€ {m}.{c:02d}", f"£{m}", f"¥{m}", f"{m}.{c:02d} €",
                f"${m}", f"CHF {m}.{c:02d}", f"({m})"][v % 8]
    if t == "date":
        y, mo, d = rng.randint(1990, 2026), rng.randint(1, 12), rng.randint(1, 28)
        return [f"{y:04d}-{mo:02d}-{d:02d}", f"{d} {MONTHS[mo - 1]} {y}", f"{mo:02d}/{d:02d}/{y}",
                f"{d}.{mo}.{y}", f"{MONTHS[mo - 1]} {y}", f"Q{rng.randint(1, 4)} {y}"][v % 6]
    if t == "code":
        L = "ABCDEFGHJKLMNPRSTUVWXYZ"
        return [f"{rng.choice(L)}{rng.choice(L)}-{rng.randint(0, 9999):04d}",
                f"ISO {rng.randint(1000, 99999)}", f"#{rng.choice(L)}{rng.randint(10, 999)}",
                f"{rng.randint(100, 999)}/{rng.randint(10, 99)}",
                f"{rng.choice(L)}{rng.randint(1, 99)}.{rng.randint(1, 9)}"][v % 5]
    if t == "pm":
        return f"{rng.randint(0, 9999) / 10:.1f} ± {rng.randint(1, 99) / 10:.1f}"
    if t == "dec":
        d = rng.randint(1, 4)
        x = rng.uniform(-10, 100) if rng.random() < 0.8 else rng.uniform(0, 1)
        s = f"{x:.{d}f}"
        if v % 3 == 1:
            s = s.replace(".", ",")
        if v % 5 == 4:
            s = "<0.001" if rng.random() < 0.2 else s + rng.choice(["", "*", "**", "†"])
        return s
    if t == "unit":
        return f"{rng.randint(1, 9999) / rng.choice([1, 10, 100]):g} {rng.choice(UNITS)}"
    return rng.choice(STATUS) if rng.random() < 0.6 else phrase(rng, 1, 2)


def line_text(rng, max_chars=60):
    """A text line as a table row or a phrase reads (for the encoder's reading stage)."""
    parts = []
    kind = rng.random()
    while sum(len(p) + 1 for p in parts) < max_chars:
        if kind < 0.5:
            parts.append(value(rng, rng.choice(COLTYPES), rng.randint(0, 99)))
        elif kind < 0.8:
            parts.append(phrase(rng, 1, 4))
        else:
            parts.append(rng.choice([phrase(rng, 1, 2), value(rng, "int", 0),
                                     value(rng, "pct", 1), rng.choice(GROUPS)]))
        if rng.random() < 0.25:
            break
    s = " ".join(parts)
    return s[:max_chars].strip()


def fit_text(text, font):
    """Replaces characters the font lacks with their base letter (or drops them)."""
    out = []
    for ch in text:
        if ch.isascii() or ch in font["cover"]:
            out.append(ch)
            continue
        base = unicodedata.normalize("NFKD", ch)[:1]
        out.append(base if base.isascii() and base.isprintable() else "")
    return "".join(out)


# --- table structure --------------------------------------------------------------------------

class Table:
    """n_rows x n_cols grid partitioned into cells; kind per cell; style dict."""

    def __init__(self, n_rows, n_cols, cells, style):
        self.n_rows, self.n_cols, self.cells, self.style = n_rows, n_cols, cells, style

    def otsl(self):
        return to_otsl(self.n_rows, self.n_cols, self.cells)


STYLES = ("grid", "booktabs", "hrules", "borderless", "zebra")


def random_table(seed, max_rows=12, max_cols=7, min_rows=1, min_cols=1, spans=True,
                 style=None, multiline=True):
    """A random table structure with text (no font yet). Deterministic per arguments."""
    rng = random.Random(seed)
    n_cols = rng.randint(min_cols, max_cols)
    body_rows = rng.randint(max(min_rows, 1), max_rows)
    st = style or rng.choice(STYLES)
    types = ["word"] + [rng.choice(COLTYPES) for _ in range(n_cols - 1)]
    variants = [rng.randint(0, 99) for _ in range(n_cols)]
    n_head = 0 if (rng.random() < 0.1 or n_cols == 1 and body_rows == 1) else 1
    multi = spans and n_cols >= 4 and rng.random() < 0.35
    if multi:
        n_head = 2
    cells = []
    r = 0
    # header rows
    if multi:
        c = 1
        cells.append(Cell(0, 0, 2 if rng.random() < 0.7 else 1, 1,
                          rng.choice(["", phrase(rng, 1, 2)]), "ched"))
        if cells[-1].rs == 1:
            cells.append(Cell(1, 0, 1, 1, "", "ched"))
        while c < n_cols:
            w = min(rng.randint(1, 3), n_cols - c)
            cells.append(Cell(0, c, 1, w, rng.choice(GROUPS) if w > 1 or rng.random() < 0.5
                              else "", "ched"))
            for j in range(w):
                cells.append(Cell(1, c + j, 1, 1, rng.choice(HEADERS[types[c + j]]), "ched"))
            c += w
        r = 2
    elif n_head:
        for c in range(n_cols):
            h = rng.choice(HEADERS[types[c]]) if c else rng.choice(
                ["", phrase(rng, 1, 2), "Item", "Region", "Name", "Description", "Variable"])
            if multiline and rng.random() < 0.08:
                h = h + " " + phrase(rng, 1, 2).lower()
            cells.append(Cell(0, c, 1, 1, h, "ched"))
        r = 1
    rhed = rng.random() < 0.3
    n_rows = r + body_rows
    sections = spans and rng.random() < 0.2 and body_rows >= 4
    rowgroups = spans and rng.random() < 0.2 and body_rows >= 3 and n_cols >= 3
    empty_p = rng.choice([0.0, 0.03, 0.1, 0.2])
    while r < n_rows:
        if sections and rng.random() < 0.2:
            cells.append(Cell(r, 0, 1, n_cols, phrase(rng, 1, 3), "srow"))
            r += 1
            continue
        c0 = 0
        if rowgroups and rng.random() < 0.5:
            span = min(rng.randint(2, 3), n_rows - r)
            cells.append(Cell(r, 0, span, 1, phrase(rng, 1, 2), "rhed" if rhed else "fcel"))
            for i in range(span):
                _body_row(rng, cells, r + i, 1, n_cols, types, variants, empty_p, spans,
                          multiline)
            r += span
            continue
        label = phrase(rng, 1, 4)
        if multiline and rng.random() < 0.1:
            label += " " + phrase(rng, 2, 4).lower()
        cells.append(Cell(r, c0, 1, 1, label if rng.random() > empty_p / 2 else "",
                          "rhed" if rhed else "fcel"))
        _body_row(rng, cells, r, 1, n_cols, types, variants, empty_p, spans, multiline)
        r += 1
    style = {"rules": st, "bold_head": rng.random() < 0.6, "center_head": rng.random() < 0.5,
             "head_shade": rng.random() < (0.5 if st == "zebra" else 0.15),
             "zebra": st == "zebra", "align_num": rng.choice(["right", "right", "center", "left"]),
             "scanned": rng.random() < 0.2, "n_head": 2 if multi else n_head}
    return Table(n_rows, n_cols, cells, style)


def _body_row(rng, cells, r, c0, n_cols, types, variants, empty_p, spans, multiline):
    c = c0
    while c < n_cols:
        w = 1
        if spans and rng.random() < 0.04 and c < n_cols - 1:
            w = rng.randint(2, n_cols - c)
        t = types[c]
        text = "" if rng.random() < empty_p else value(rng, t, variants[c])
        if multiline and t == "word" and rng.random() < 0.15:
            text = phrase(rng, 3, 6)
        cells.append(Cell(r, c, 1, w, text, "fcel"))
        c += w


# --- rendering --------------------------------------------------------------------------------

def _wrap(text, path, px, max_w):
    """Greedy word wrap into lines no wider than max_w (a single long word stays whole)."""
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        cand = (cur + " " + w) if cur else w
        if cur and GLYPHS.width(path, px, cand) > max_w:
            lines.append(cur)
            cur = w
        else:
            cur = cand
    if cur:
        lines.append(cur)
    return lines or [""]


def _hline(canvas, x0, x1, y, t, ink):
    """A horizontal rule t px thick (fractional below 1 px drawn lighter)."""
    x0, x1 = max(int(x0), 0), min(int(x1), canvas.shape[1])
    if t < 1:
        v = int(255 - (255 - ink) * t)
        canvas[int(y), x0:x1] = np.minimum(canvas[int(y), x0:x1], v)
    else:
        canvas[int(y):int(y) + int(round(t)), x0:x1] = ink


def _vline(canvas, x, y0, y1, t, ink):
    y0, y1 = max(int(y0), 0), min(int(y1), canvas.shape[0])
    if t < 1:
        v = int(255 - (255 - ink) * t)
        canvas[y0:y1, int(x)] = np.minimum(canvas[y0:y1, int(x)], v)
    else:
        canvas[y0:y1, int(x):int(x) + int(round(t))] = ink


class Sample:
    """image (PIL 'L'), otsl, table, cell_boxes [(x0,y0,x1,y1)] aligned with table.cells,
    lines [(text, box)] (every rendered text line), xheight (px), style (dict)."""

    def __init__(self, image, table, cell_boxes, lines, xheight):
        self.image, self.table, self.cell_boxes, self.lines = image, table, cell_boxes, lines
        self.xheight, self.style = xheight, table.style

    @property
    def otsl(self):
        return self.table.otsl()


def render_table(table, seed, xh_range=(8.0, 14.0), scanned=None, max_width=None,
                 font=None):
    """Renders `table` (its cell texts are fitted to the chosen font in place).
    max_width: wrap long cells / stop growing past this width in px (None = no limit)."""
    rng = random.Random(seed * 7919 + 17)
    f = font or pick_font(rng)
    st = table.style
    if scanned is None:
        scanned = st.get("scanned", False)
    xh = rng.uniform(*xh_range)
    k = rng.choice([1.5, 2.0]) if scanned else 1.0  # scan oversampling
    px = max(6, int(round(xh / f["xh"] * k)))
    pt = rng.uniform(7, 12)
    ppt = px / pt  # pixels per point
    asc, desc = GLYPHS.metrics(f["regular"], px)
    lh = int(round((asc + desc) * rng.uniform(1.0, 1.25)))
    bold = f["bold"] or f["regular"]
    pad_x = int(round(ppt * rng.uniform(2, 7)))
    pad_y = int(round(ppt * rng.uniform(1, 4)))
    for c in table.cells:
        c.text = fit_text(c.text, f)
    # lines of each cell
    wrap_w = rng.choice([None, px * 9, px * 14]) if any(len(c.text) > 22 for c in table.cells) \
        else None
    cell_lines = []
    for c in table.cells:
        use_bold = c.kind == "ched" and st["bold_head"] or c.kind == "srow" and st["bold_head"]
        path = bold if use_bold else f["regular"]
        if wrap_w and c.kind != "srow" and len(c.text) > 18:
            ls = _wrap(c.text, path, px, wrap_w)
        else:
            ls = [c.text]
        cell_lines.append((ls, path, use_bold and not f["bold"]))
    # column widths and row heights (spanning cells widen their last column)
    col_w = [0.0] * table.n_cols
    row_h = [0.0] * table.n_rows
    order = sorted(range(len(table.cells)), key=lambda i: table.cells[i].cs)
    for i in order:
        c = table.cells[i]
        if c.kind == "srow":
            continue
        ls, path, _ = cell_lines[i]
        w = max(GLYPHS.width(path, px, t) for t in ls) + 2 * pad_x
        have = sum(col_w[c.c:c.c + c.cs])
        if w > have:
            col_w[c.c + c.cs - 1] += w - have
    for i in sorted(range(len(table.cells)), key=lambda i: table.cells[i].rs):
        c = table.cells[i]
        h = len(cell_lines[i][0]) * lh + 2 * pad_y
        have = sum(row_h[c.r:c.r + c.rs])
        if h > have:
            row_h[c.r + c.rs - 1] += h - have
    col_w = [max(w, 2 * pad_x + px) for w in col_w]
    margin = int(round(rng.uniform(3, 20) * k))
    xs = [margin]
    for w in col_w:
        xs.append(xs[-1] + int(round(w)))
    ys = [margin]
    for h in row_h:
        ys.append(ys[-1] + int(round(h)))
    W, H = xs[-1] + margin, ys[-1] + margin
    canvas = np.full((H, W), 255, np.uint8)
    rules = st["rules"]
    n_head = st.get("n_head", 0)
    # shading
    if st["zebra"]:
        shade = rng.randint(215, 240)
        for r in range(n_head, table.n_rows, 2):
            canvas[ys[r]:ys[r + 1], xs[0]:xs[-1]] = shade
    if st["head_shade"] and n_head:
        canvas[ys[0]:ys[n_head], xs[0]:xs[-1]] = rng.randint(190, 235)
    # rules
    # Poppler (cairo) draws a thin rule as a solid 1-px line at these scales (see README), so
    # most rules are solid; a few are lighter sub-pixel lines as other renderers make them
    t_thin = ppt * rng.uniform(0.3, 0.8)
    t_thin = max(1.0, t_thin) if rng.random() < 0.75 else max(0.4, t_thin)
    t_thick = max(1.0, ppt * rng.uniform(0.8, 1.5))
    lk = rng.choice([0, 0, 0, 0, 40, 90])
    L, R = xs[0], xs[-1]
    if rules == "grid":
        for y in ys:
            _hline(canvas, L, R + 1, y, t_thin, lk)
        for x in xs:
            _vline(canvas, x, ys[0], ys[-1] + 1, t_thin, lk)
    elif rules == "booktabs":
        _hline(canvas, L, R, ys[0], t_thick, lk)
        if n_head:
            _hline(canvas, L, R, ys[n_head], t_thin, lk)
            if n_head == 2:
                for c in table.cells:
                    if c.r == 0 and c.cs > 1 and c.text:
                        _hline(canvas, xs[c.c] + pad_x / 2, xs[c.c + c.cs] - pad_x / 2,
                               ys[1] - 1, t_thin, lk)
        _hline(canvas, L, R, ys[-1], t_thick, lk)
    elif rules in ("hrules", "zebra"):
        if rules == "hrules" or rng.random() < 0.5:
            for y in ys:
                _hline(canvas, L, R, y, t_thin, lk)
    if rules in ("grid", "hrules", "zebra"):
        _erase_inner_rules(canvas, table, xs, ys, t_thin, rules == "grid")
    # text
    ink = rng.choice([0, 0, 0, 20, 40])
    boxes, lines = [], []
    for i, c in enumerate(table.cells):
        ls, path, fake = cell_lines[i]
        x0, x1, y0, y1 = xs[c.c], xs[c.c + c.cs], ys[c.r], ys[c.r + c.rs]
        text_h = len(ls) * lh
        ty = y0 + (y1 - y0 - text_h) / 2 if c.rs > 1 or rng.random() < 0.8 else y0 + pad_y
        bx = [1e9, 1e9, -1e9, -1e9]
        for j, t in enumerate(ls):
            if not t:
                continue
            tw = GLYPHS.width(path, px, t)
            numeric = c.kind == "fcel" and c.c > 0 and any(ch.isdigit() for ch in t)
            if c.kind == "ched" and (st["center_head"] or c.cs > 1) or c.kind == "srow" and False:
                tx = x0 + (x1 - x0 - tw) / 2
            elif numeric and st["align_num"] == "right":
                tx = x1 - pad_x - tw
            elif numeric and st["align_num"] == "center":
                tx = x0 + (x1 - x0 - tw) / 2
            else:
                tx = x0 + pad_x
            yy = ty + j * lh + (lh - asc - desc) / 2
            draw_text(canvas, tx, yy, t, path, px, ink, fake)
            box = (tx, yy, tx + tw, yy + asc + desc)
            lines.append((t, box))
            bx = [min(bx[0], box[0]), min(bx[1], box[1]), max(bx[2], box[2]), max(bx[3], box[3])]
        boxes.append(tuple(bx) if bx[0] < 1e9 else (x0, y0, x1, y1))
    # borderless: nothing
    img = Image.fromarray(canvas, "L")
    if scanned:
        img = _scan(img, rng, k)
        boxes = [tuple(v / k for v in b) for b in boxes]
        lines = [(t, tuple(v / k for v in b)) for t, b in lines]
    return Sample(img, table, boxes, lines, xh)


def _erase_inner_rules(canvas, table, xs, ys, t, grid):
    """Re-blanks (with the shade just beside) the rule segments inside merged cells;
    called before any text is drawn."""
    tt = max(1, int(round(t)))
    keep = tt if grid else 0  # the vertical border at the cell's left edge, if there is one
    for c in table.cells:
        if c.cs == 1 and c.rs == 1:
            continue
        x0, x1, y0, y1 = xs[c.c], xs[c.c + c.cs], ys[c.r], ys[c.r + c.rs]
        for j in range(1, c.cs):
            x = xs[c.c + j]
            canvas[y0 + tt:y1, x:x + tt] = canvas[y0 + tt:y1, x - 1 - tt:x - 1]
        for i in range(1, c.rs):
            y = ys[c.r + i]
            canvas[y:y + tt, x0 + keep:x1] = canvas[y - 1 - tt:y - 1, x0 + keep:x1]


def _scan(img, rng, k):
    """Downsample by k (the scan's oversampling), rotate slightly, blur, add noise, JPEG."""
    w, h = img.size
    if k != 1:
        img = img.resize((max(1, int(round(w / k))), max(1, int(round(h / k)))), Image.BILINEAR)
    if rng.random() < 0.7:
        img = img.rotate(rng.uniform(-0.8, 0.8), resample=Image.BILINEAR, expand=False,
                         fillcolor=255)
    if rng.random() < 0.6:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    a = np.asarray(img, dtype=np.float32)
    if rng.random() < 0.5:  # paper tint / contrast
        a = a * rng.uniform(0.8, 1.0) + rng.uniform(0, 30)
    g = np.random.default_rng(rng.randint(0, 2 ** 31))
    a = a + g.standard_normal(a.shape, dtype=np.float32) * rng.uniform(2, 12)
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")
    if rng.random() < 0.8:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rng.randint(30, 85))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    return img


def table_sample(seed, max_rows=12, max_cols=7, min_rows=1, min_cols=1, spans=True,
                 style=None, scanned=None, xh_range=(8.0, 14.0), multiline=True):
    t = random_table(seed, max_rows, max_cols, min_rows, min_cols, spans, style, multiline)
    return render_table(t, seed, xh_range, scanned)


# --- text-line tiles (encoder reading stage) ---------------------------------------------------

def reader_text(rng):
    """What the pipeline's reader sees in one band (one word cut from a scanned table): random
    letters (no vocabulary to guess from), short values and marks, or one value or word."""
    r = rng.random()
    if r < 0.4:
        return pseudo_text(rng, 1, 2)
    if r < 0.7:
        return rng.choice([str(rng.randint(0, 99)), rng.choice("%$€£—-–±*†x"),
                           "(%d)" % rng.randint(1, 9), "%d%%" % rng.randint(0, 100),
                           rng.choice(["ll", "ill", "1,111", "11", "Il", "rn", "m", "iii"]),
                           pseudo_word(rng)[:rng.randint(1, 3)]])
    return value(rng, rng.choice(COLTYPES), rng.randint(0, 99)).split(" ")[0] or "0"


def line_tile(seed, size=512, pitch=32, xh_range=(8.0, 14.0), scanned_p=0.2, reader_p=0.0):
    """A size x size tile of text lines, line i centred (+-3 px) in the band of rows
    [i*pitch, (i+1)*pitch) so a CTC head can read it from those patch rows. With
    probability reader_p a band holds reader_text() instead of a line.
    -> (PIL 'L' image, [text or None per band]). None = empty band (no loss)."""
    rng = random.Random(seed)
    f = pick_font(rng)
    scanned = rng.random() < scanned_p
    xh = rng.uniform(*xh_range)
    k = rng.choice([1.5, 2.0]) if scanned else 1
    px = max(6, int(round(xh / f["xh"] * k)))
    asc, desc = GLYPHS.metrics(f["regular"], px)
    bold = f["bold"] or f["regular"]
    S = size * k
    canvas = np.full((int(S), int(S)), 255, np.uint8)
    texts = []
    if rng.random() < 0.2:
        shade_rows = rng.random() < 0.5
    else:
        shade_rows = False
    for i in range(size // pitch):
        if rng.random() < 0.08:
            texts.append(None)
            continue
        path = bold if rng.random() < 0.2 else f["regular"]
        y0 = i * pitch * k
        if shade_rows and i % 2:
            canvas[int(y0):int(y0 + pitch * k), :] = rng.randint(215, 240)
        x = rng.uniform(2, 40) * k
        if reader_p and rng.random() < reader_p:
            t = fit_text(reader_text(rng), f)
        else:
            t = fit_text(line_text(rng, rng.randint(3, 70)), f)
        # columns of a table row: wider gaps between some words
        words, out = t.split(" "), []
        pen = x
        for j, w in enumerate(words):
            if j:
                gap = GLYPHS.width(path, px, " ") * (rng.choice([1, 1, 1, 3, 6]))
                pen += gap
            wd = GLYPHS.width(path, px, w)
            if pen + wd > S - 2 * k:
                break
            ymid = y0 + pitch * k / 2 + rng.uniform(-3, 3) * k
            draw_text(canvas, pen, ymid - (asc + desc) / 2 + (desc - 0) / 4, w, path, px,
                      rng.choice([0, 0, 30]))
            pen += wd
            out.append(w)
        texts.append(" ".join(out) if out else None)
        if rng.random() < 0.15:  # a rule between rows, as tables have
            _hline(canvas, 0, S, y0 + pitch * k - 1, max(0.5, k * 0.7), rng.choice([0, 60]))
    img = Image.fromarray(canvas, "L")
    if scanned:
        img = _scan(img, rng, k)
    return img, texts


# --- comparison with quire's own rendering path (cairo PDF -> Poppler) -------------------------

def raster_stats(img):
    """Rendering statistics of a grayscale page or table image: median x-height of text lines
    (rows whose ink count is >= half the band's peak), rule thickness and darkness, glyph stroke
    darkness (median gray of ink pixels) and horizontal stroke width (median dark run)."""
    a = np.asarray(img, dtype=np.uint8).copy()
    H, W = a.shape
    dark = a < 160
    rules_h = []
    rows = np.where(dark.sum(1) > 0.5 * W * (dark.any(0).mean() or 1))[0]
    for grp in np.split(rows, np.where(np.diff(rows) > 1)[0] + 1) if len(rows) else []:
        rules_h.append((len(grp), int(a[grp].min(1).mean())))
        a[max(grp[0] - 1, 0):grp[-1] + 2] = 255
    cols = np.where((a < 160).sum(0) > 0.5 * H * ((a < 160).any(1).mean() or 1))[0]
    for grp in np.split(cols, np.where(np.diff(cols) > 1)[0] + 1) if len(cols) else []:
        a[:, max(grp[0] - 1, 0):grp[-1] + 2] = 255
    ink = a < 128
    prof = ink.sum(1)
    xh, runs = [], []
    r = 0
    while r < H:
        if prof[r] == 0:
            r += 1
            continue
        s = r
        while r < H and prof[r] > 0:
            r += 1
        band = prof[s:r]
        if r - s >= 4:
            xh.append(int((band >= 0.5 * band.max()).sum()))
            mid = ink[(s + r) // 2]
            d = np.diff(np.concatenate([[0], mid.astype(np.int8), [0]]))
            runs.extend((np.where(d == -1)[0] - np.where(d == 1)[0]).tolist())
    vals = a[a < 200]
    return {"x_height": float(np.median(xh)) if xh else None,
            "rule_px": float(np.median([t for t, _ in rules_h])) if rules_h else None,
            "rule_gray": float(np.median([g for _, g in rules_h])) if rules_h else None,
            "ink_gray": float(np.median(vals)) if len(vals) else None,
            "solid_frac": float((vals < 64).mean()) if len(vals) else None,
            "stroke_px": float(np.median(runs)) if runs else None}


def compare_poppler(gentables, n=12, dpis=(100, 150), workdir="/tmp/quire-poppler-compare"):
    """gentables -> PDFs -> pdftoppm -gray at each dpi; synth tables in DejaVu at matching
    x-heights; -> {name: median stats}."""
    import shutil
    import statistics
    shutil.rmtree(workdir, ignore_errors=True)
    subprocess.run([gentables, "--out", workdir, "--count", str(n), "--seed", "7", "--style",
                    "grid,booktabs,hrules,borderless,zebra,spans"], check=True,
                   capture_output=True)
    out = {}
    pdfs = sorted(glob.glob(os.path.join(workdir, "*.pdf")))

    def summarize(stats):
        keys = stats[0].keys()
        return {k: round(statistics.median([s[k] for s in stats if s[k] is not None]), 3)
                if any(s[k] is not None for s in stats) else None for k in keys}
    for dpi in dpis:
        stats = []
        for p in pdfs:
            base = p[:-4] + f"-{dpi}"
            subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", "-png", "-f", "1", "-l", "1",
                            p, base], check=True)
            img = Image.open(glob.glob(base + "*.png")[0]).convert("L")
            stats.append(raster_stats(img))
        out[f"poppler {dpi} dpi"] = summarize(stats)
    dv = [f for f in discover_fonts() if f["name"] in ("dejavusans", "dejavuserif")]
    for xh in (out[f"poppler {d} dpi"]["x_height"] for d in dpis):
        stats = []
        for i in range(n):
            t = random_table(i, 10, 6, style=STYLES[i % len(STYLES)])
            t.style["scanned"] = False
            s = render_table(t, i, (xh + 0.5, xh + 0.5), font=dv[i % len(dv)] if dv else None)
            stats.append(raster_stats(s.image))
        out[f"synth (PIL, x-height {xh} px)"] = summarize(stats)
    return out


# --- benchmark ---------------------------------------------------------------------------------

if __name__ == "__main__":
    import argparse
    import time
    ap = argparse.ArgumentParser(description="render samples / measure generation speed")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", default="")
    ap.add_argument("--max-rows", type=int, default=10)
    ap.add_argument("--max-cols", type=int, default=7)
    ap.add_argument("--compare-poppler", default="", metavar="GENTABLES",
                    help="path of quire's tools/gentables: compare PIL and Poppler statistics")
    a = ap.parse_args()
    if a.compare_poppler:
        import json
        for k, v in compare_poppler(a.compare_poppler).items():
            print(f"{k:34s} {json.dumps(v)}")
        raise SystemExit(0)
    print("fonts:", "; ".join(",".join(f["name"] for f in g) for g in font_groups()))
    table_sample(0)
    t0 = time.time()
    for i in range(a.n):
        s = table_sample(i, a.max_rows, a.max_cols)
        if a.out:
            os.makedirs(a.out, exist_ok=True)
            s.image.save(os.path.join(a.out, f"t{i:04d}.png"))
            with open(os.path.join(a.out, f"t{i:04d}.otsl"), "w") as fh:
                fh.write(s.otsl + "\n")
    dt = time.time() - t0
    print(f"tables: {a.n / dt:.1f}/s on one core")
    t0 = time.time()
    for i in range(a.n // 4):
        line_tile(i)
    print(f"line tiles: {a.n / 4 / (time.time() - t0):.1f}/s on one core")
