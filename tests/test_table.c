/*
 * tests/test_table.c - the table module: the model, OTSL in (strict and repair) and out, the five
 * renderers, and allocation-failure injection across all of them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-glib/json-glib.h>

#include "../table/table.h"

/* --- helpers ------------------------------------------------------------------------------- */

static void put(struct table *t, int r, int c, int rs, int cs, enum cell_kind k, const char *s)
{
    assert_int_equal(table_set_cell(t, r, c, rs, cs, k, s), 0);
}

/* 2x2, one header row: a b / c d */
static struct table *make_plain(void)
{
    struct table *t = table_new(2, 2);
    assert_non_null(t);
    put(t, 0, 0, 1, 1, CELL_COLUMN_HEADER, "a");
    put(t, 0, 1, 1, 1, CELL_COLUMN_HEADER, "b");
    put(t, 1, 0, 1, 1, CELL_DATA, "c");
    put(t, 1, 1, 1, 1, CELL_DATA, "d");
    t->header_rows = 1;
    return t;
}

/* 4x3, one header row: H spans the header row (colspan), R spans two rows (rowspan),
 * X spans 2x2 (both), then a plain row a b c. */
static struct table *make_spans(void)
{
    struct table *t = table_new(4, 3);
    assert_non_null(t);
    put(t, 0, 0, 1, 3, CELL_COLUMN_HEADER, "H");
    put(t, 1, 0, 2, 1, CELL_DATA, "R");
    put(t, 1, 1, 2, 2, CELL_DATA, "X");
    put(t, 3, 0, 1, 1, CELL_DATA, "a");
    put(t, 3, 1, 1, 1, CELL_DATA, "b");
    put(t, 3, 2, 1, 1, CELL_DATA, "c");
    t->header_rows = 1;
    return t;
}

/* One row of texts, no header rows. */
static struct table *make_row(int n, const char *const *texts)
{
    struct table *t = table_new(1, n);
    assert_non_null(t);
    for (int i = 0; i < n; i++)
        put(t, 0, i, 1, 1, CELL_DATA, texts[i]);
    return t;
}

static void expect_render(const struct table *t, enum table_format f,
                          const struct render_options *o, const char *want)
{
    char *got = table_render(t, f, o);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static const char SPECIALS[] = "&%$#_{}~^\\|<>\"',[*";

static struct table *make_specials(void)
{
    static const char *const texts[] = {SPECIALS, "*x"};
    return make_row(2, texts);
}

static struct table *make_unicode(void)
{
    static const char *const texts[] = {"Größe", "日本語", "😀 ok"};
    return make_row(3, texts);
}

static struct table *make_multiline(void)
{
    static const char *const texts[] = {"one\ntwo", "a\r\nb"};
    return make_row(2, texts);
}

static struct table *make_one_cell(void)
{
    static const char *const texts[] = {"x"};
    return make_row(1, texts);
}

static struct table *parse_ok(const char *otsl, bool repair, int want_repairs)
{
    struct table *t = NULL;
    char *msg = NULL;
    int repaired = -1;
    int err = table_from_otsl(otsl, repair, &t, &repaired, &msg);
    if (err)
        fail_msg("table_from_otsl(%s): %d %s", otsl, err, msg ? msg : "");
    assert_null(msg);
    assert_non_null(t);
    assert_int_equal(repaired, want_repairs);
    assert_int_equal(table_validate(t, NULL), 0);
    return t;
}

/* Parses in strict mode, expects QUIRE_EPARSE with a message holding `want`. */
static void parse_fails(const char *otsl, const char *want)
{
    struct table *t = (struct table *)0x1;
    char *msg = NULL;
    assert_int_equal(table_from_otsl(otsl, false, &t, NULL, &msg), QUIRE_EPARSE);
    assert_null(t);
    assert_non_null(msg);
    if (!strstr(msg, want))
        fail_msg("message \"%s\" lacks \"%s\"", msg, want);
    free(msg);
}

static void expect_cell(const struct table *t, int r, int c, int rs, int cs, enum cell_kind k,
                        const char *text)
{
    const struct table_cell *cell = table_cell_at(t, r, c);
    assert_non_null(cell);
    assert_int_equal(cell->row, r);
    assert_int_equal(cell->col, c);
    assert_int_equal(cell->rowspan, rs);
    assert_int_equal(cell->colspan, cs);
    assert_int_equal(cell->kind, k);
    assert_string_equal(cell->text, text);
}

/* Row-major texts of every position, '|' between positions, '/' between rows. */
static void expect_grid(const struct table *t, const char *want)
{
    char buf[512] = "";
    for (int r = 0; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            if (c > 0)
                strcat(buf, "|");
            strcat(buf, table_text_at(t, r, c));
        }
        if (r + 1 < t->n_rows)
            strcat(buf, "/");
    }
    assert_string_equal(buf, want);
}

/* --- model --------------------------------------------------------------------------------- */

static void test_table__new_set_and_look_up(void **state)
{
    struct table *t = table_new(3, 2);
    assert_non_null(t);
    assert_int_equal(t->n_rows, 3);
    assert_int_equal(t->n_cols, 2);
    assert_int_equal(t->n_cells, 0);
    assert_null(table_cell_at(t, 0, 0));
    assert_string_equal(table_text_at(t, 2, 1), "");

    put(t, 2, 1, 1, 1, CELL_DATA, "last");
    put(t, 0, 0, 2, 1, CELL_ROW_HEADER, "tall");
    put(t, 0, 1, 1, 1, CELL_DATA, NULL);
    assert_int_equal(t->n_cells, 3);
    assert_int_equal(t->cells[0].row, 0); /* kept row-major */
    assert_int_equal(t->cells[1].col, 1);
    assert_int_equal(t->cells[2].row, 2);
    expect_cell(t, 0, 0, 2, 1, CELL_ROW_HEADER, "tall");
    assert_ptr_equal(table_cell_at(t, 1, 0), table_cell_at(t, 0, 0));
    assert_string_equal(table_text_at(t, 1, 0), "tall");
    assert_string_equal(table_text_at(t, 0, 1), "");
    assert_null(table_cell_at(t, 1, 1));

    /* same anchor: replaced, not added */
    put(t, 0, 1, 1, 1, CELL_COLUMN_HEADER, "new");
    assert_int_equal(t->n_cells, 3);
    expect_cell(t, 0, 1, 1, 1, CELL_COLUMN_HEADER, "new");
    struct table_cell *m = table_cell_at_mut(t, 2, 1);
    m->has_bbox = true;
    m->bbox = (struct rect){1, 2, 3, 4};
    assert_true(table_cell_at(t, 2, 1)->has_bbox);
    assert_int_equal(table_validate(t, NULL), 0);
    table_free(t);
    table_free(NULL);
    assert_null(table_new(-1, 2));
}

static void test_table__set_cell_rejects_overlap_and_outside(void **state)
{
    struct table *t = table_new(3, 3);
    put(t, 0, 0, 2, 2, CELL_DATA, "big");
    assert_int_equal(table_set_cell(t, 1, 1, 1, 1, CELL_DATA, "in"), QUIRE_EINVAL);
    assert_int_equal(table_set_cell(t, 0, 1, 1, 1, CELL_DATA, "in"), QUIRE_EINVAL);
    assert_int_equal(table_set_cell(t, 1, 0, 1, 2, CELL_DATA, "in"), QUIRE_EINVAL);
    assert_int_equal(table_set_cell(t, 0, 2, 2, 1, CELL_DATA, "ok"), 0);
    assert_int_equal(table_set_cell(t, 2, 0, 1, 3, CELL_DATA, "ok"), 0);
    assert_int_equal(table_set_cell(t, 1, 2, 2, 1, CELL_DATA, "x"), QUIRE_EINVAL);
    /* outside the grid, bad spans, bad kind */
    assert_int_equal(table_set_cell(t, 3, 0, 1, 1, CELL_DATA, "x"), QUIRE_EINVAL);
    assert_int_equal(table_set_cell(t, 0, -1, 1, 1, CELL_DATA, "x"), QUIRE_EINVAL);
    assert_int_equal(table_set_cell(t, 2, 2, 1, 2, CELL_DATA, "x"), QUIRE_EINVAL);
    assert_int_equal(table_set_cell(t, 0, 0, 0, 1, CELL_DATA, "x"), QUIRE_EINVAL);
    assert_int_equal(table_set_cell(t, 0, 0, 1, 1, (enum cell_kind)9, "x"), QUIRE_EINVAL);
    /* replacing the anchor may shrink the cell; a new cell then fits */
    put(t, 0, 0, 1, 1, CELL_DATA, "small");
    put(t, 1, 1, 1, 1, CELL_DATA, "in");
    assert_int_equal(t->n_cells, 4);
    expect_grid(t, "small||ok/|in|ok/ok|ok|ok");
    assert_int_equal(table_validate(t, NULL), 0);
    table_free(t);
}

static void test_table__validate_reports_broken_invariants(void **state)
{
    struct table *t = make_spans();
    char *msg = NULL;
    assert_int_equal(table_validate(t, &msg), 0);
    assert_null(msg);

    t->header_rows = 5;
    assert_int_equal(table_validate(t, &msg), QUIRE_EINVAL);
    assert_non_null(strstr(msg, "header_rows"));
    free(msg);
    t->header_rows = 1;

    t->cells[1].rowspan = 3; /* R now overlaps a */
    assert_int_equal(table_validate(t, &msg), QUIRE_EINVAL);
    assert_non_null(strstr(msg, "overlap"));
    free(msg);
    t->cells[1].rowspan = 4; /* and leaves the grid */
    assert_int_equal(table_validate(t, &msg), QUIRE_EINVAL);
    assert_non_null(strstr(msg, "grid"));
    free(msg);
    t->cells[1].rowspan = 2;

    struct table_cell tmp = t->cells[0];
    t->cells[0] = t->cells[1];
    t->cells[1] = tmp;
    assert_int_equal(table_validate(t, NULL), QUIRE_EINVAL); /* out of order */
    t->cells[1] = t->cells[0];
    t->cells[0] = tmp;

    t->cells[2].colspan = 0;
    assert_int_equal(table_validate(t, &msg), QUIRE_EINVAL);
    assert_non_null(strstr(msg, "span"));
    free(msg);
    t->cells[2].colspan = 2;
    assert_int_equal(table_validate(t, NULL), 0);
    table_free(t);
}

static void test_table__copy_is_deep_and_equal(void **state)
{
    struct table *t = make_spans();
    table_cell_at_mut(t, 1, 0)->has_bbox = true;
    struct table *c = table_copy(t);
    assert_non_null(c);
    assert_true(table_equal(t, c));
    assert_ptr_not_equal(c->cells[0].text, t->cells[0].text);
    assert_true(table_cell_at(c, 2, 0)->has_bbox);
    put(c, 3, 2, 1, 1, CELL_DATA, "changed");
    assert_false(table_equal(t, c));
    assert_string_equal(table_text_at(t, 3, 2), "c");
    table_free(c);

    /* an empty data cell and no cell are the same */
    struct table *a = table_new(1, 2), *b = table_new(1, 2);
    put(a, 0, 0, 1, 1, CELL_DATA, "");
    assert_true(table_equal(a, b));
    b->header_rows = 1;
    assert_false(table_equal(a, b));
    table_free(a);
    table_free(b);
    table_free(t);
}

static void test_table__format_names_and_options(void **state)
{
    enum table_format f;
    assert_true(table_format_parse("md", &f));
    assert_int_equal(f, TABLE_FORMAT_MARKDOWN);
    assert_true(table_format_parse("Markdown", &f));
    assert_int_equal(f, TABLE_FORMAT_MARKDOWN);
    assert_true(table_format_parse("tex", &f));
    assert_int_equal(f, TABLE_FORMAT_LATEX);
    assert_true(table_format_parse("latex", &f));
    assert_int_equal(f, TABLE_FORMAT_LATEX);
    assert_true(table_format_parse("html", &f));
    assert_int_equal(f, TABLE_FORMAT_HTML);
    assert_true(table_format_parse("csv", &f));
    assert_int_equal(f, TABLE_FORMAT_CSV);
    assert_true(table_format_parse("json", &f));
    assert_int_equal(f, TABLE_FORMAT_JSON);
    assert_false(table_format_parse("xlsx", &f));
    assert_false(table_format_parse("", &f));
    assert_string_equal(table_format_name(TABLE_FORMAT_MARKDOWN), "markdown");
    assert_string_equal(table_format_name(TABLE_FORMAT_LATEX), "latex");
    assert_string_equal(table_format_name(TABLE_FORMAT_JSON), "json");
    struct render_options o = {.markdown_spans = SPAN_REPEAT, .latex_booktabs = true};
    render_options_init(&o);
    assert_int_equal(o.markdown_spans, SPAN_EMPTY);
    assert_false(o.latex_booktabs);
    struct table *t = make_plain();
    assert_null(table_render(t, (enum table_format)42, NULL));
    table_free(t);
}

/* --- OTSL: valid input --------------------------------------------------------------------- */

static void test_table__otsl_simple(void **state)
{
    struct table *t = parse_ok("<otsl><fcel>a<fcel> b <nl><fcel>c<ecel><nl></otsl>", false, 0);
    assert_int_equal(t->n_rows, 2);
    assert_int_equal(t->n_cols, 2);
    assert_int_equal(t->header_rows, 0);
    expect_grid(t, "a|b/c|");
    expect_cell(t, 0, 1, 1, 1, CELL_DATA, "b");
    expect_cell(t, 1, 1, 1, 1, CELL_DATA, "");
    table_free(t);

    /* no wrapper, row headers, section rows, a '<' that is no tag */
    t = parse_ok("<srow>Part 1<lcel><nl><rhed>x < y<fcel>a<-b<nl>", false, 0);
    expect_cell(t, 0, 0, 1, 2, CELL_SECTION, "Part 1");
    expect_cell(t, 1, 0, 1, 1, CELL_ROW_HEADER, "x < y");
    expect_cell(t, 1, 1, 1, 1, CELL_DATA, "a<-b");
    table_free(t);

    t = parse_ok("<otsl></otsl>", false, 0);
    assert_int_equal(t->n_rows, 0);
    assert_int_equal(t->n_cols, 0);
    table_free(t);
}

static void test_table__otsl_spans_one_dimension(void **state)
{
    struct table *t = parse_ok("<otsl><fcel>wide<lcel><lcel><nl>"
                               "<fcel>tall<fcel>p<fcel>q<nl>"
                               "<ucel><fcel>r<fcel>s<nl></otsl>", false, 0);
    assert_int_equal(t->n_rows, 3);
    assert_int_equal(t->n_cols, 3);
    assert_int_equal(t->n_cells, 6);
    expect_cell(t, 0, 0, 1, 3, CELL_DATA, "wide");
    expect_cell(t, 1, 0, 2, 1, CELL_DATA, "tall");
    assert_ptr_equal(table_cell_at(t, 0, 2), table_cell_at(t, 0, 0));
    assert_ptr_equal(table_cell_at(t, 2, 0), table_cell_at(t, 1, 0));
    expect_grid(t, "wide|wide|wide/tall|p|q/tall|r|s");
    table_free(t);
}

static void test_table__otsl_spans_two_dimensions(void **state)
{
    struct table *t = parse_ok("<otsl><fcel>big<lcel><fcel>a<nl>"
                               "<ucel><xcel><fcel>b<nl>"
                               "<ucel><xcel><ecel><nl>"
                               "<fcel>c<fcel>d<fcel>e<nl></otsl>", false, 0);
    assert_int_equal(t->n_cells, 7);
    expect_cell(t, 0, 0, 3, 2, CELL_DATA, "big");
    assert_ptr_equal(table_cell_at(t, 2, 1), table_cell_at(t, 0, 0));
    assert_ptr_equal(table_cell_at(t, 1, 1), table_cell_at(t, 0, 0));
    expect_cell(t, 1, 2, 1, 1, CELL_DATA, "b");
    expect_grid(t, "big|big|a/big|big|b/big|big|/c|d|e");
    table_free(t);
}

static void test_table__otsl_headers(void **state)
{
    struct table *t = parse_ok("<otsl><ched>Region<ched>Sales<lcel><nl>"
                               "<ucel><ched>2023<ched>2024<nl>"
                               "<rhed>North<fcel>1<fcel>2<nl></otsl>", false, 0);
    assert_int_equal(t->header_rows, 2);
    expect_cell(t, 0, 0, 2, 1, CELL_COLUMN_HEADER, "Region");
    expect_cell(t, 0, 1, 1, 2, CELL_COLUMN_HEADER, "Sales");
    expect_cell(t, 1, 2, 1, 1, CELL_COLUMN_HEADER, "2024");
    expect_cell(t, 2, 0, 1, 1, CELL_ROW_HEADER, "North");
    table_free(t);

    /* an empty corner beside <ched> cells still makes a header row; a data cell does not */
    t = parse_ok("<ecel><ched>2023<nl><ched>x<fcel>1<nl>", false, 0);
    assert_int_equal(t->header_rows, 1);
    table_free(t);
    t = parse_ok("<fcel>a<ched>b<nl><ched>c<ched>d<nl>", false, 0);
    assert_int_equal(t->header_rows, 0);
    table_free(t);
}

static void test_table__otsl_loc_tokens_are_skipped(void **state)
{
    struct table *t = parse_ok("<loc_0><otsl><loc_12><loc_34><loc_499><loc_5>"
                               "<ched>h<nl><fcel>v<nl></otsl>", false, 0);
    assert_int_equal(t->n_rows, 2);
    assert_int_equal(t->n_cols, 1);
    assert_int_equal(t->header_rows, 1);
    expect_grid(t, "h/v");
    table_free(t);
    parse_fails("<otsl><loc_500><fcel>a<nl></otsl>", "token 1: unknown token <loc_500>");
    parse_fails("<otsl><fcel>a<loc_3><nl></otsl>", "token 2 <loc_N>: <loc_N> after the first");
}

static void test_table__otsl_unicode_text_is_trimmed(void **state)
{
    struct table *t = parse_ok("<otsl><fcel>  Größe\t<fcel>\n日本語 😀\n<nl>"
                               "<fcel>line one\nline two<ecel><nl></otsl>", false, 0);
    expect_grid(t, "Größe|日本語 😀/line one\nline two|");
    table_free(t);
    parse_fails("<fcel>a\xff<nl>", "token 0 <fcel>: cell text is not valid UTF-8");
    t = parse_ok("<fcel>a\xff<nl>", true, 1);
    expect_grid(t, "a\xEF\xBF\xBD");
    table_free(t);
}

/* --- OTSL: invalid input, strict and repaired ---------------------------------------------- */

static const char RAGGED[] = "<otsl><fcel>a<fcel>b<nl><fcel>c<nl></otsl>";
static const char LCEL_FIRST[] = "<otsl><lcel><fcel>a<nl><fcel>b<fcel>c<nl></otsl>";
static const char UCEL_TOP[] = "<otsl><fcel>a<ucel><nl><fcel>b<fcel>c<nl></otsl>";
static const char XCEL_BAD[] = "<otsl><fcel>a<fcel>b<nl><fcel>c<xcel><nl></otsl>";
static const char NOT_RECT[] = "<otsl><fcel>a<lcel><nl><ucel><fcel>d<nl></otsl>";

static void test_table__otsl_strict_rejects(void **state)
{
    parse_fails(RAGGED, "token 5 <nl>: row 2 has 1 cells, the first row has 2");
    parse_fails(LCEL_FIRST, "token 1 <lcel>: <lcel> at the start of a row");
    parse_fails(UCEL_TOP, "token 2 <ucel>: <ucel> in the first row has no cell above");
    parse_fails(XCEL_BAD, "token 5 <xcel>: <xcel> must be inside a 2-D span");
    parse_fails(NOT_RECT, "token 5 <fcel>: expected <xcel> here");
    parse_fails("<fcel>a<fcel>b<nl><ucel><lcel><nl>", "token 4 <lcel>: <lcel> must follow");
    parse_fails("<fcel>a<nl><xcel><nl>", "token 2 <xcel>: <xcel> needs a span both");
    parse_fails("<fcel>a<lcel><nl><fcel>c<ucel><nl>", "token 4 <ucel>: <ucel> must be below");
    parse_fails("<otsl><fcel>a<nl>", "missing </otsl>");
    parse_fails("<otsl><fcel>a<fcel>b</otsl>", "the last row has no final <nl> (after token 2)");
    parse_fails("<otsl><fcel>x<sub>2</sub><nl></otsl>", "token 2: unknown token <sub>");
    parse_fails("<otsl><fcel>a<lcel>oops<nl></otsl>", "token 2 <lcel>: text after a token");
    parse_fails("junk<otsl><fcel>a<nl></otsl>", "text before the first token");
    parse_fails("<otsl><fcel>a<nl></otsl><fcel>b", "token 4 <fcel>: token after </otsl>");
}

static void test_table__otsl_repair_fixes_near_misses(void **state)
{
    struct table *t = parse_ok(RAGGED, true, 1);
    assert_int_equal(t->n_cols, 2);
    expect_grid(t, "a|b/c|");
    table_free(t);

    t = parse_ok(LCEL_FIRST, true, 1);
    expect_grid(t, "|a/b|c");
    expect_cell(t, 0, 0, 1, 1, CELL_DATA, "");
    table_free(t);

    t = parse_ok(UCEL_TOP, true, 1);
    expect_grid(t, "a|/b|c");
    expect_cell(t, 0, 0, 1, 1, CELL_DATA, "a");
    expect_cell(t, 0, 1, 1, 1, CELL_DATA, "");
    table_free(t);

    t = parse_ok(XCEL_BAD, true, 1);
    expect_grid(t, "a|b/c|");
    expect_cell(t, 1, 1, 1, 1, CELL_DATA, "");
    table_free(t);

    /* the <ucel> would make "a" an L shape: it becomes an empty cell instead */
    t = parse_ok(NOT_RECT, true, 1);
    expect_grid(t, "a|a/|d");
    expect_cell(t, 0, 0, 1, 2, CELL_DATA, "a");
    expect_cell(t, 1, 0, 1, 1, CELL_DATA, "");
    table_free(t);

    /* several rows padded: one repair per inserted <ecel> */
    t = parse_ok("<fcel>a<fcel>b<fcel>c<nl><fcel>d<nl><nl>", true, 5);
    expect_grid(t, "a|b|c/d||/||");
    table_free(t);

    /* missing </otsl> and final <nl>; unknown tokens dropped; stray text */
    t = parse_ok("<otsl><fcel>x<sub>2</sub><fcel>b", true, 4);
    expect_grid(t, "x2|b");
    table_free(t);
    t = parse_ok("junk<otsl><ecel>kept<lcel>dropped<nl></otsl>tail", true, 4);
    expect_grid(t, "kept|kept");
    expect_cell(t, 0, 0, 1, 2, CELL_DATA, "kept");
    table_free(t);
    t = parse_ok("<fcel>a<nl></otsl><otsl><fcel>b<nl>", true, 4);
    expect_grid(t, "a");
    table_free(t);
}

static void test_table__otsl_round_trip(void **state)
{
    struct table *t = make_spans();
    put(t, 3, 0, 1, 1, CELL_ROW_HEADER, "a");
    put(t, 3, 2, 1, 1, CELL_SECTION, "multi\nline");
    char *s = table_to_otsl(t);
    assert_non_null(s);
    assert_string_equal(s, "<otsl><ched>H<lcel><lcel><nl>"
                           "<fcel>R<fcel>X<lcel><nl>"
                           "<ucel><ucel><xcel><nl>"
                           "<rhed>a<fcel>b<srow>multi\nline<nl></otsl>");
    struct table *back = parse_ok(s, false, 0);
    assert_true(table_equal(t, back));
    free(s);
    table_free(back);
    table_free(t);

    /* empty positions and empty header positions */
    t = table_new(3, 2);
    t->header_rows = 1;
    put(t, 0, 1, 1, 1, CELL_COLUMN_HEADER, "h");
    put(t, 1, 0, 2, 1, CELL_DATA, "");
    s = table_to_otsl(t);
    assert_string_equal(s, "<otsl><ched><ched>h<nl><ecel><ecel><nl><ucel><ecel><nl></otsl>");
    back = parse_ok(s, false, 0);
    assert_true(table_equal(t, back));
    free(s);
    table_free(back);
    table_free(t);

    /* parse -> serialize gives the same text back */
    const char *in = "<otsl><ched>a<lcel><ched>b<nl><ucel><xcel><fcel>c<nl>"
                     "<srow>s<lcel><lcel><nl></otsl>";
    t = parse_ok(in, false, 0);
    s = table_to_otsl(t);
    assert_string_equal(s, in);
    free(s);
    table_free(t);

    t = table_new(0, 0);
    s = table_to_otsl(t);
    assert_string_equal(s, "<otsl></otsl>");
    back = parse_ok(s, false, 0);
    assert_true(table_equal(t, back));
    free(s);
    table_free(back);
    table_free(t);
}

/* Random token soup: repair must always give a valid table that renders and round-trips; strict
 * mode must either fail with a message or agree with repair at zero repairs. */
static void test_table__otsl_random_input_properties(void **state)
{
    static const char *const pieces[] = {
        "<fcel>a", "<fcel> b c ", "<ecel>", "<ched>h", "<rhed>r", "<srow>s", "<lcel>", "<lcel>",
        "<ucel>", "<ucel>", "<xcel>", "<xcel>", "<nl>", "<nl>", "<nl>", "<loc_7>", "<b>", "junk",
        "<otsl>", "</otsl>", "<fcel>x < y", "<fcel>\xff", "<ched>", "<fcel>two\nlines",
    };
    const size_t n_pieces = sizeof pieces / sizeof pieces[0];
    uint32_t rng = 12345;
    char input[1024];
    for (int iter = 0; iter < 3000; iter++) {
        input[0] = '\0';
        rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
        int n = (int)(rng % 40);
        for (int k = 0; k < n; k++) {
            rng ^= rng << 13, rng ^= rng >> 17, rng ^= rng << 5;
            strcat(input, pieces[rng % n_pieces]);
        }
        struct table *fixed = NULL, *strict = NULL, *back = NULL;
        char *msg = NULL;
        int repairs = -1;
        assert_int_equal(table_from_otsl(input, true, &fixed, &repairs, &msg), 0);
        assert_null(msg);
        assert_true(repairs >= 0);
        if (table_validate(fixed, &msg) != 0)
            fail_msg("invalid table from \"%s\": %s", input, msg);
        for (int f = TABLE_FORMAT_MARKDOWN; f <= TABLE_FORMAT_JSON; f++) {
            char *out = table_render(fixed, (enum table_format)f, NULL);
            assert_non_null(out);
            free(out);
        }
        char *otsl = table_to_otsl(fixed);
        assert_non_null(otsl);
        if (table_from_otsl(otsl, false, &back, NULL, &msg) != 0 || !table_equal(fixed, back))
            fail_msg("round trip of \"%s\" via \"%s\" failed: %s", input, otsl, msg);
        int err = table_from_otsl(input, false, &strict, NULL, &msg);
        if (err == 0) {
            assert_int_equal(repairs, 0);
            assert_true(table_equal(strict, fixed));
        } else {
            assert_int_equal(err, QUIRE_EPARSE);
            assert_non_null(msg);
            assert_non_null(strstr(msg, "OTSL"));
            assert_true(repairs > 0);
        }
        free(msg);
        free(otsl);
        table_free(back);
        table_free(strict);
        table_free(fixed);
    }
}

static uint32_t next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* A random table with random spans; row 0 is a header row of unspanned <ched> cells when
 * header_rows is 1. */
static struct table *make_random(uint32_t *rng)
{
    int rows = 1 + (int)(next_random(rng) % 6), cols = 1 + (int)(next_random(rng) % 6);
    struct table *t = table_new(rows, cols);
    assert_non_null(t);
    t->header_rows = (int)(next_random(rng) % 2);
    static const enum cell_kind kinds[] = {CELL_DATA, CELL_DATA, CELL_ROW_HEADER, CELL_SECTION};
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            if (table_cell_at(t, r, c))
                continue;
            char text[32];
            snprintf(text, sizeof text, "t%d_%d", r, c);
            bool head = r < t->header_rows;
            int rs = head ? 1 : 1 + (int)(next_random(rng) % 3);
            int cs = 1 + (int)(next_random(rng) % 3);
            enum cell_kind k = head ? CELL_COLUMN_HEADER : kinds[next_random(rng) % 4];
            if (table_set_cell(t, r, c, rs, cs, k, text) != 0)
                put(t, r, c, 1, 1, k, text); /* the span ran into a cell or off the grid */
        }
    }
    assert_int_equal(table_validate(t, NULL), 0);
    return t;
}

/* Random span layouts: OTSL round-trips exactly, every renderer succeeds, the JSON parses back
 * with the right shape, and any single corrupted token is still repaired into a valid table. */
static void test_table__random_tables_round_trip_and_render(void **state)
{
    static const char *const swaps[] = {"<lcel>", "<ucel>", "<xcel>", "<ecel>", "<nl>", "<ched>"};
    uint32_t rng = 777;
    for (int iter = 0; iter < 500; iter++) {
        struct table *t = make_random(&rng), *back = NULL;
        char *msg = NULL;
        char *otsl = table_to_otsl(t);
        assert_non_null(otsl);
        if (table_from_otsl(otsl, false, &back, NULL, &msg) != 0 || !table_equal(t, back))
            fail_msg("round trip via \"%s\" failed: %s", otsl, msg ? msg : "not equal");
        table_free(back);
        back = NULL;

        char *json = table_render(t, TABLE_FORMAT_JSON, NULL);
        assert_non_null(json);
        JsonParser *parser = json_parser_new();
        assert_true(json_parser_load_from_data(parser, json, -1, NULL));
        JsonObject *root = json_node_get_object(json_parser_get_root(parser));
        assert_int_equal(json_array_get_length(json_object_get_array_member(root, "rows")),
                         t->n_rows);
        assert_int_equal(json_object_get_int_member(root, "header_rows"), t->header_rows);
        g_object_unref(parser);
        free(json);
        for (int f = TABLE_FORMAT_MARKDOWN; f <= TABLE_FORMAT_CSV; f++) {
            char *out = table_render(t, (enum table_format)f, NULL);
            assert_non_null(out);
            free(out);
        }

        /* corrupt one token (the tokens start at '<'; skip the <otsl> wrapper) */
        size_t n_lt = 0, len = strlen(otsl);
        for (size_t i = 6; i < len; i++)
            n_lt += otsl[i] == '<';
        size_t pick = next_random(&rng) % (n_lt - 1), seen = 0, at = 0;
        for (at = 6; at < len; at++)
            if (otsl[at] == '<' && seen++ == pick)
                break;
        size_t end = strchr(otsl + at, '>') - otsl + 1;
        char *bad = q_asprintf("%.*s%s%s", (int)at, otsl, swaps[next_random(&rng) % 6],
                               otsl + end);
        int repairs = -1;
        assert_int_equal(table_from_otsl(bad, true, &back, &repairs, &msg), 0);
        assert_int_equal(table_validate(back, NULL), 0);
        free(bad);
        table_free(back);
        free(otsl);
        table_free(t);
    }
}

/* --- Markdown ------------------------------------------------------------------------------ */

static void test_table__markdown_plain(void **state)
{
    struct table *t = make_plain();
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL, "| a | b |\n| --- | --- |\n| c | d |\n");
    t->header_rows = 0;
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL,
                  "|  |  |\n| --- | --- |\n| a | b |\n| c | d |\n");
    t->header_rows = 2; /* the second header row becomes the first body row */
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL, "| a | b |\n| --- | --- |\n| c | d |\n");
    table_free(t);
}

static void test_table__markdown_escaping(void **state)
{
    struct table *t = make_specials();
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL,
                  "|  |  |\n| --- | --- |\n| &%$#_{}~^\\\\\\|<>\"',[* | *x |\n");
    table_free(t);
}

static void test_table__markdown_spans(void **state)
{
    struct table *t = make_spans();
    struct render_options o;
    render_options_init(&o);
    expect_render(t, TABLE_FORMAT_MARKDOWN, &o,
                  "| H |  |  |\n| --- | --- | --- |\n| R | X |  |\n|  |  |  |\n| a | b | c |\n");
    o.markdown_spans = SPAN_REPEAT;
    expect_render(t, TABLE_FORMAT_MARKDOWN, &o,
                  "| H | H | H |\n| --- | --- | --- |\n| R | X | X |\n| R | X | X |\n"
                  "| a | b | c |\n");
    table_free(t);
}

static void test_table__markdown_empty_one_unicode_multiline(void **state)
{
    struct table *t = table_new(0, 0);
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL, "");
    table_free(t);
    t = make_one_cell();
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL, "|  |\n| --- |\n| x |\n");
    table_free(t);
    t = make_unicode();
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL,
                  "|  |  |  |\n| --- | --- | --- |\n| Größe | 日本語 | 😀 ok |\n");
    table_free(t);
    t = make_multiline();
    expect_render(t, TABLE_FORMAT_MARKDOWN, NULL,
                  "|  |  |\n| --- | --- |\n| one<br>two | a<br>b |\n");
    table_free(t);
}

/* --- LaTeX --------------------------------------------------------------------------------- */

static void test_table__latex_plain(void **state)
{
    struct table *t = make_plain();
    expect_render(t, TABLE_FORMAT_LATEX, NULL,
                  "\\begin{tabular}{ll}\n\\hline\na & b \\\\\n\\hline\nc & d \\\\\n\\hline\n"
                  "\\end{tabular}\n");
    struct render_options o;
    render_options_init(&o);
    o.latex_booktabs = true;
    expect_render(t, TABLE_FORMAT_LATEX, &o,
                  "\\begin{tabular}{ll}\n\\toprule\na & b \\\\\n\\midrule\nc & d \\\\\n"
                  "\\bottomrule\n\\end{tabular}\n");
    table_free(t);
}

static void test_table__latex_escaping(void **state)
{
    struct table *t = make_specials();
    expect_render(t, TABLE_FORMAT_LATEX, NULL,
                  "\\begin{tabular}{ll}\n\\hline\n"
                  "\\&\\%\\$\\#\\_\\{\\}\\textasciitilde{}\\textasciicircum{}\\textbackslash{}"
                  "\\textbar{}\\textless{}\\textgreater{}\"',{[}* & {*}x \\\\\n"
                  "\\hline\n\\end{tabular}\n");
    table_free(t);
}

static void test_table__latex_spans(void **state)
{
    struct table *t = make_spans();
    struct render_options o;
    render_options_init(&o);
    o.latex_booktabs = true;
    expect_render(t, TABLE_FORMAT_LATEX, &o,
                  "\\begin{tabular}{lll}\n\\toprule\n"
                  "\\multicolumn{3}{c}{H} \\\\\n"
                  "\\midrule\n"
                  "\\multirow{2}{*}{R} & \\multicolumn{2}{c}{\\multirow{2}{*}{X}} \\\\\n"
                  " & \\multicolumn{2}{c}{} \\\\\n"
                  "a & b & c \\\\\n"
                  "\\bottomrule\n\\end{tabular}\n");
    table_free(t);
}

static void test_table__latex_empty_one_unicode_multiline(void **state)
{
    struct table *t = table_new(0, 0);
    expect_render(t, TABLE_FORMAT_LATEX, NULL, "% empty table (0 rows, no columns)\n");
    table_free(t);
    t = make_one_cell();
    expect_render(t, TABLE_FORMAT_LATEX, NULL,
                  "\\begin{tabular}{l}\n\\hline\nx \\\\\n\\hline\n\\end{tabular}\n");
    table_free(t);
    t = make_unicode();
    expect_render(t, TABLE_FORMAT_LATEX, NULL,
                  "\\begin{tabular}{lll}\n\\hline\nGröße & 日本語 & 😀 ok \\\\\n\\hline\n"
                  "\\end{tabular}\n");
    table_free(t);
    t = make_multiline();
    expect_render(t, TABLE_FORMAT_LATEX, NULL,
                  "\\begin{tabular}{ll}\n\\hline\n"
                  "\\begin{tabular}[t]{@{}l@{}}one\\\\two\\end{tabular} & "
                  "\\begin{tabular}[t]{@{}l@{}}a\\\\b\\end{tabular} \\\\\n"
                  "\\hline\n\\end{tabular}\n");
    table_free(t);
}

static void append_rendered(FILE *f, struct table *t, const struct render_options *o)
{
    char *s = table_render(t, TABLE_FORMAT_LATEX, o);
    assert_non_null(s);
    fprintf(f, "%s\n\\bigskip\n\n", s);
    free(s);
    table_free(t);
}

static void test_table__latex_compiles_with_pdflatex(void **state)
{
    if (system("command -v pdflatex >/dev/null 2>&1 && kpsewhich multirow.sty >/dev/null 2>&1 "
               "&& kpsewhich booktabs.sty >/dev/null 2>&1") != 0) {
        print_message("pdflatex with multirow.sty and booktabs.sty is not installed "
                      "(texlive-latex-extra): LaTeX output not compiled\n");
        skip();
    }
    char dir[] = "/tmp/test_table_latex_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], cmd[512];
    snprintf(path, sizeof path, "%s/t.tex", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
          "\\usepackage{multirow,booktabs}\n\\begin{document}\n", f);
    struct render_options o;
    render_options_init(&o);
    append_rendered(f, make_plain(), &o);
    append_rendered(f, make_spans(), &o);
    append_rendered(f, make_specials(), &o);
    append_rendered(f, make_multiline(), &o);
    append_rendered(f, make_one_cell(), &o);
    append_rendered(f, table_new(0, 0), &o);
    static const char *const latin[] = {"Größe", "café", "naïve"};
    append_rendered(f, make_row(3, latin), &o);
    o.latex_booktabs = true;
    append_rendered(f, make_plain(), &o);
    append_rendered(f, make_spans(), &o);
    fputs("\\end{document}\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cd %s && pdflatex -interaction=nonstopmode -halt-on-error t.tex "
             ">/dev/null 2>&1", dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        print_message("could not remove %s\n", dir);
    assert_int_equal(rc, 0);
}

/* --- HTML ---------------------------------------------------------------------------------- */

static void test_table__html_plain(void **state)
{
    struct table *t = make_plain();
    expect_render(t, TABLE_FORMAT_HTML, NULL,
                  "<table>\n<thead>\n<tr><th>a</th><th>b</th></tr>\n</thead>\n"
                  "<tbody>\n<tr><td>c</td><td>d</td></tr>\n</tbody>\n</table>\n");
    table_free(t);
}

static void test_table__html_escaping(void **state)
{
    struct table *t = make_specials();
    expect_render(t, TABLE_FORMAT_HTML, NULL,
                  "<table>\n<tbody>\n<tr><td>&amp;%$#_{}~^\\|&lt;&gt;&quot;&#39;,[*</td>"
                  "<td>*x</td></tr>\n</tbody>\n</table>\n");
    table_free(t);
}

static void test_table__html_spans(void **state)
{
    struct table *t = make_spans();
    put(t, 3, 0, 1, 1, CELL_ROW_HEADER, "a");
    expect_render(t, TABLE_FORMAT_HTML, NULL,
                  "<table>\n<thead>\n<tr><th colspan=\"3\">H</th></tr>\n</thead>\n<tbody>\n"
                  "<tr><td rowspan=\"2\">R</td><td colspan=\"2\" rowspan=\"2\">X</td></tr>\n"
                  "<tr></tr>\n"
                  "<tr><th scope=\"row\">a</th><td>b</td><td>c</td></tr>\n"
                  "</tbody>\n</table>\n");
    /* a header cell spanning below the header rows takes those rows into <thead> */
    struct table *u = parse_ok("<ched>h<ched>i<nl><ucel><fcel>v<nl><fcel>w<fcel>z<nl>",
                               false, 0);
    assert_int_equal(u->header_rows, 1);
    expect_render(u, TABLE_FORMAT_HTML, NULL,
                  "<table>\n<thead>\n<tr><th rowspan=\"2\">h</th><th>i</th></tr>\n"
                  "<tr><th>v</th></tr>\n</thead>\n"
                  "<tbody>\n<tr><td>w</td><td>z</td></tr>\n</tbody>\n</table>\n");
    table_free(u);
    table_free(t);
}

static void test_table__html_empty_one_unicode_multiline(void **state)
{
    struct table *t = table_new(0, 0);
    expect_render(t, TABLE_FORMAT_HTML, NULL, "<table>\n</table>\n");
    table_free(t);
    t = make_one_cell();
    expect_render(t, TABLE_FORMAT_HTML, NULL,
                  "<table>\n<tbody>\n<tr><td>x</td></tr>\n</tbody>\n</table>\n");
    table_free(t);
    t = make_unicode();
    expect_render(t, TABLE_FORMAT_HTML, NULL,
                  "<table>\n<tbody>\n<tr><td>Größe</td><td>日本語</td><td>😀 ok</td></tr>\n"
                  "</tbody>\n</table>\n");
    table_free(t);
    t = make_multiline();
    expect_render(t, TABLE_FORMAT_HTML, NULL,
                  "<table>\n<tbody>\n<tr><td>one<br>two</td><td>a<br>b</td></tr>\n"
                  "</tbody>\n</table>\n");
    table_free(t);
}

/* --- CSV ----------------------------------------------------------------------------------- */

static void test_table__csv_plain(void **state)
{
    struct table *t = make_plain();
    expect_render(t, TABLE_FORMAT_CSV, NULL, "a,b\r\nc,d\r\n");
    table_free(t);
}

static void test_table__csv_escaping(void **state)
{
    struct table *t = make_specials();
    expect_render(t, TABLE_FORMAT_CSV, NULL, "\"&%$#_{}~^\\|<>\"\"',[*\",*x\r\n");
    table_free(t);
    static const char *const plain_quote[] = {"say \"hi\"", "a,b", "no quotes"};
    t = make_row(3, plain_quote);
    expect_render(t, TABLE_FORMAT_CSV, NULL, "\"say \"\"hi\"\"\",\"a,b\",no quotes\r\n");
    table_free(t);
}

static void test_table__csv_spans(void **state)
{
    struct table *t = make_spans();
    expect_render(t, TABLE_FORMAT_CSV, NULL, "H,,\r\nR,X,\r\n,,\r\na,b,c\r\n");
    table_free(t);
}

static void test_table__csv_empty_one_unicode_multiline(void **state)
{
    struct table *t = table_new(0, 0);
    expect_render(t, TABLE_FORMAT_CSV, NULL, "");
    table_free(t);
    t = make_one_cell();
    expect_render(t, TABLE_FORMAT_CSV, NULL, "x\r\n");
    table_free(t);
    t = table_new(2, 1); /* an empty field in one column is quoted: no blank line */
    put(t, 0, 0, 1, 1, CELL_DATA, "v");
    expect_render(t, TABLE_FORMAT_CSV, NULL, "v\r\n\"\"\r\n");
    table_free(t);
    t = make_unicode();
    expect_render(t, TABLE_FORMAT_CSV, NULL, "Größe,日本語,😀 ok\r\n");
    table_free(t);
    t = make_multiline();
    expect_render(t, TABLE_FORMAT_CSV, NULL, "\"one\ntwo\",\"a\r\nb\"\r\n");
    table_free(t);
}

/* --- JSON ---------------------------------------------------------------------------------- */

static void test_table__json_plain(void **state)
{
    struct table *t = make_plain();
    expect_render(t, TABLE_FORMAT_JSON, NULL,
                  "{\"rows\":[[\"a\",\"b\"],[\"c\",\"d\"]],\"spans\":[],\"header_rows\":1}");
    table_free(t);
}

static void test_table__json_escaping(void **state)
{
    struct table *t = make_specials();
    expect_render(t, TABLE_FORMAT_JSON, NULL,
                  "{\"rows\":[[\"&%$#_{}~^\\\\|<>\\\"',[*\",\"*x\"]],\"spans\":[],"
                  "\"header_rows\":0}");
    table_free(t);
    static const char *const control[] = {"tab\there\x01", "bad\xff utf8"};
    t = make_row(2, control);
    expect_render(t, TABLE_FORMAT_JSON, NULL,
                  "{\"rows\":[[\"tab\\there\\u0001\",\"bad\xEF\xBF\xBD utf8\"]],\"spans\":[],"
                  "\"header_rows\":0}");
    table_free(t);
}

static void test_table__json_spans(void **state)
{
    struct table *t = make_spans();
    expect_render(t, TABLE_FORMAT_JSON, NULL,
                  "{\"rows\":[[\"H\",\"\",\"\"],[\"R\",\"X\",\"\"],[\"\",\"\",\"\"],"
                  "[\"a\",\"b\",\"c\"]],\"spans\":[[0,0,1,3],[1,0,2,1],[1,1,2,2]],"
                  "\"header_rows\":1}");
    table_free(t);
}

static void test_table__json_empty_one_unicode_multiline(void **state)
{
    struct table *t = table_new(0, 0);
    expect_render(t, TABLE_FORMAT_JSON, NULL, "{\"rows\":[],\"spans\":[],\"header_rows\":0}");
    table_free(t);
    t = make_one_cell();
    expect_render(t, TABLE_FORMAT_JSON, NULL,
                  "{\"rows\":[[\"x\"]],\"spans\":[],\"header_rows\":0}");
    table_free(t);
    t = make_unicode();
    expect_render(t, TABLE_FORMAT_JSON, NULL,
                  "{\"rows\":[[\"Größe\",\"日本語\",\"😀 ok\"]],\"spans\":[],\"header_rows\":0}");
    table_free(t);
    t = make_multiline();
    expect_render(t, TABLE_FORMAT_JSON, NULL,
                  "{\"rows\":[[\"one\\ntwo\",\"a\\r\\nb\"]],\"spans\":[],\"header_rows\":0}");
    table_free(t);
}

/* --- allocation failures ------------------------------------------------------------------- */

/* Builds a table with spans, copies it, renders every format, serializes and re-parses it.
 * Returns true when every step succeeded; on a failure cleans up and returns false. */
static bool build_and_render_everything(void)
{
    static const enum table_format formats[] = {TABLE_FORMAT_MARKDOWN, TABLE_FORMAT_LATEX,
                                                TABLE_FORMAT_HTML, TABLE_FORMAT_CSV,
                                                TABLE_FORMAT_JSON};
    bool ok = false;
    struct table *t = table_new(3, 3), *copy = NULL, *parsed = NULL;
    char *otsl = NULL, *msg = NULL;
    if (!t)
        return false;
    t->header_rows = 1;
    int err = table_set_cell(t, 0, 0, 1, 2, CELL_COLUMN_HEADER, "head|er");
    if (!err)
        err = table_set_cell(t, 0, 2, 1, 1, CELL_COLUMN_HEADER, "h2");
    if (!err)
        err = table_set_cell(t, 1, 0, 2, 2, CELL_DATA, "big & \"wide\"\nline");
    if (!err)
        err = table_set_cell(t, 1, 2, 1, 1, CELL_ROW_HEADER, "bad \xff");
    if (!err)
        err = table_set_cell(t, 2, 2, 1, 1, CELL_DATA, "ü");
    if (err) {
        assert_int_equal(err, QUIRE_ENOMEM);
        goto out;
    }
    if (!(copy = table_copy(t)))
        goto out;
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char *s = table_render(copy, formats[i], NULL);
        if (!s)
            goto out;
        assert_true(strlen(s) > 0);
        free(s);
    }
    if (!(otsl = table_to_otsl(t)))
        goto out;
    int repaired = 0;
    err = table_from_otsl(otsl, true, &parsed, &repaired, &msg);
    if (err) {
        assert_int_equal(err, QUIRE_ENOMEM);
        assert_null(parsed);
        goto out;
    }
    assert_int_equal(repaired, 1); /* the invalid UTF-8 byte */
    table_free(parsed);
    parsed = NULL;
    /* a strict-mode error: the message is allocated too */
    err = table_from_otsl("<otsl><fcel>a<lcel><nl><ucel><ecel><nl>", false, &parsed, NULL, &msg);
    if (err == QUIRE_ENOMEM)
        goto out;
    assert_int_equal(err, QUIRE_EPARSE);
    assert_non_null(msg);
    free(msg);
    msg = NULL;
    err = table_from_otsl("<otsl><fcel>a<lcel><nl><ucel><ecel><nl>", true, &parsed, &repaired,
                          NULL);
    if (err == QUIRE_ENOMEM)
        goto out;
    assert_int_equal(err, 0);
    assert_int_equal(repaired, 2); /* missing </otsl>, the <ucel> */
    ok = true;
out:
    table_free(t);
    table_free(copy);
    table_free(parsed);
    free(otsl);
    free(msg);
    return ok;
}

/* --- continuation over a page break --------------------------------------------------------- */

/* A 3-column part: `header` (may be NULL) as its one header row, then n data rows "<tag>r<i>c<c>";
 * cell boxes in columns at x 72-200, 200-400, 400-520 (shifted by dx) when boxed. */
static struct table *make_part(const char *const *header, const char *tag, int n, bool boxed,
                               double dx)
{
    int h = header ? 1 : 0;
    struct table *t = table_new(h + n, 3);
    assert_non_null(t);
    static const double edges[] = {72, 200, 400, 520};
    for (int r = 0; r < h + n; r++) {
        for (int c = 0; c < 3; c++) {
            char text[32];
            if (r < h)
                snprintf(text, sizeof text, "%s", header[c]);
            else
                snprintf(text, sizeof text, "%sr%dc%d", tag, r - h, c);
            put(t, r, c, 1, 1, r < h ? CELL_COLUMN_HEADER : CELL_DATA, text);
            if (boxed) {
                struct table_cell *cell = table_cell_at_mut(t, r, c);
                cell->has_bbox = true;
                /* word boxes: narrower than the column, as the text layer gives them */
                cell->bbox = (struct rect){edges[c] + 4 + dx + (r % 2) * 3, 100 + 14 * r,
                                           edges[c + 1] - 20 + dx - (r % 3) * 5, 110 + 14 * r};
            }
        }
    }
    t->header_rows = h;
    return t;
}

/* An A4 page place: the table from y0 to y1, text above/below as given (< 0: none). */
static struct table_place place(double y0, double y1, double above, double below)
{
    return (struct table_place){.page_width = 595, .page_height = 842,
                                .bbox = {72, y0, 520, y1}, .text_above = above,
                                .text_below = below};
}

static void test_table__continues_with_and_without_repeated_header(void **state)
{
    static const char *const head[] = {"Region", "Units", "Revenue"};
    struct table *a = make_part(head, "a", 20, true, 0);
    struct table *b = make_part(head, "b", 10, true, 1.5);   /* header repeated */
    struct table *c = make_part(NULL, "c", 10, true, -2);    /* no header */
    struct table_place pa = place(200, 780, 150, 800), pb = place(60, 400, 40, 420);
    int repeated = -1;
    /* a page number below a (in the footer band), a running head above b */
    assert_true(table_continues(a, &pa, b, &pb, a, &repeated));
    assert_int_equal(repeated, 1);
    assert_true(table_continues(a, &pa, c, &pb, NULL, &repeated));
    assert_int_equal(repeated, 0);
    /* a third part compares its header with the chain's head, not with c */
    assert_true(table_continues(c, &pa, b, &pb, a, &repeated));
    assert_int_equal(repeated, 1);
    /* without a detected header, a repeated first row is still recognised */
    a->header_rows = 0;
    b->header_rows = 0;
    assert_true(table_continues(a, &pa, b, &pb, a, &repeated));
    assert_int_equal(repeated, 1);
    /* without cell boxes the table edges decide */
    struct table *a2 = make_part(head, "a", 5, false, 0), *c2 = make_part(NULL, "c", 5, false, 0);
    assert_true(table_continues(a2, &pa, c2, &pb, NULL, &repeated));
    struct table_place shifted = pb;
    shifted.bbox.x0 += 30;
    assert_false(table_continues(a2, &pa, c2, &shifted, NULL, &repeated));
    table_free(a);
    table_free(b);
    table_free(c);
    table_free(a2);
    table_free(c2);
}

static void test_table__continues_rejects(void **state)
{
    static const char *const head[] = {"Region", "Units", "Revenue"};
    static const char *const other[] = {"Name", "Age", "City"};
    struct table *a = make_part(head, "a", 20, true, 0);
    struct table *b = make_part(NULL, "b", 10, true, 0);
    struct table *own = make_part(other, "o", 10, true, 0);
    struct table_place pa = place(200, 780, 150, -1), pb = place(60, 400, -1, 420);
    assert_true(table_continues(a, &pa, b, &pb, NULL, NULL));
    /* a header of its own: a new table */
    assert_false(table_continues(a, &pa, own, &pb, NULL, NULL));
    /* body text below the first part, or above the second */
    struct table_place text_below = place(200, 700, 150, 720), text_above = place(150, 400, 130, -1);
    assert_false(table_continues(a, &text_below, b, &pb, NULL, NULL));
    assert_false(table_continues(a, &pa, b, &text_above, NULL, NULL));
    /* the first part ends mid-page; the second starts mid-page */
    struct table_place short_a = place(100, 500, 80, -1), low_b = place(300, 600, -1, -1);
    assert_false(table_continues(a, &short_a, b, &pb, NULL, NULL));
    assert_false(table_continues(a, &pa, b, &low_b, NULL, NULL));
    /* columns that do not line up */
    struct table *moved = make_part(NULL, "m", 10, true, 90);
    assert_false(table_continues(a, &pa, moved, &pb, NULL, NULL));
    /* another column count */
    struct table *two = table_new(3, 2);
    put(two, 0, 0, 1, 1, CELL_DATA, "x");
    assert_false(table_continues(a, &pa, two, &pb, NULL, NULL));
    table_free(a);
    table_free(b);
    table_free(own);
    table_free(moved);
    table_free(two);
}

/* A note next to the parts ("Table 3 (continued)"), and a continuation whose first row the
 * engine took for a header (a table ruled between all rows). */
static void test_table__continues_notes_and_body_header(void **state)
{
    assert_true(table_note_continues("Table 3 (continued)"));
    assert_true(table_note_continues("TABLE IV - CONTINUED"));
    assert_true(table_note_continues("Table 2. Cont."));
    assert_true(table_note_continues("Table 2 (cont'd)"));
    assert_true(table_note_continues("Tabelle 1 (Fortsetzung)"));
    assert_true(table_note_continues("Tableau 5 (suite)"));
    assert_true(table_note_continues("Continued on next page"));
    assert_false(table_note_continues("Discontinued operations"));
    assert_false(table_note_continues("Table 3: Revenue by region"));
    assert_false(table_note_continues("Sales continued to grow in every region in the year, as "
                                      "the table below shows"));
    assert_false(table_note_continues(""));

    static const char *const head[] = {"Region", "Units", "Revenue"};
    static const char *const other[] = {"Name", "Age", "City"};
    struct table *a = make_part(head, "a", 20, true, 0);
    struct table *own = make_part(other, "o", 10, true, 0);
    /* a caption 20 pt above the second part, below the running head band */
    struct table_place pa = place(200, 780, 150, -1), pb = place(160, 400, 140, 420);
    assert_false(table_continues(a, &pa, own, &pb, NULL, NULL));
    pb.note_above = true;
    int repeated = -1;
    assert_true(table_continues(a, &pa, own, &pb, NULL, &repeated));
    assert_int_equal(repeated, 0);
    /* "Continued on next page" under the first part */
    struct table *b = make_part(NULL, "b", 10, true, 0);
    struct table_place pa2 = place(200, 700, 150, 715), pb2 = place(60, 400, -1, 420);
    assert_false(table_continues(a, &pa2, b, &pb2, NULL, NULL));
    pa2.note_below = true;
    assert_true(table_continues(a, &pa2, b, &pb2, NULL, NULL));

    /* values under a header of names: the second part's first row is body, though marked header */
    struct table *h = table_new(3, 3), *n = table_new(2, 3);
    const char *hv[] = {"Region", "Units", "Revenue", "North", "1,200", "$3.5m",
                        "South", "980", "(2.1%)"};
    const char *nv[] = {"East", "1,010", "$1.2m", "West", "75", "4.0%"};
    for (int i = 0; i < 9; i++)
        put(h, i / 3, i % 3, 1, 1, i < 3 ? CELL_COLUMN_HEADER : CELL_DATA, hv[i]);
    for (int i = 0; i < 6; i++)
        put(n, i / 3, i % 3, 1, 1, i < 3 ? CELL_COLUMN_HEADER : CELL_DATA, nv[i]);
    h->header_rows = n->header_rows = 1;
    struct table_place ph = place(200, 780, 150, -1), pn = place(60, 400, -1, 420);
    assert_true(table_continues(h, &ph, n, &pn, NULL, &repeated));
    assert_int_equal(repeated, 0);
    /* a header of its own with values where the body has them (years): a new table */
    struct table *y = table_new(2, 3);
    const char *yv[] = {"East", "2023", "2024", "West", "75", "4.0%"};
    for (int i = 0; i < 6; i++)
        put(y, i / 3, i % 3, 1, 1, i < 3 ? CELL_COLUMN_HEADER : CELL_DATA, yv[i]);
    y->header_rows = 1;
    struct table *yh = table_new(3, 3);
    const char *yhv[] = {"Region", "2021", "2022", "North", "1,200", "$3.5m",
                         "South", "980", "(2.1%)"};
    for (int i = 0; i < 9; i++)
        put(yh, i / 3, i % 3, 1, 1, i < 3 ? CELL_COLUMN_HEADER : CELL_DATA, yhv[i]);
    yh->header_rows = 1;
    assert_false(table_continues(yh, &ph, y, &pn, NULL, NULL));
    /* merged, the second part's "header" is a body row */
    const struct table *parts[] = {h, n};
    struct table *m = NULL;
    assert_int_equal(table_merge(parts, NULL, 2, &m), 0);
    assert_int_equal(m->header_rows, 1);
    assert_int_equal(table_cell_at(m, 3, 0)->kind, CELL_DATA);
    assert_string_equal(table_text_at(m, 3, 1), "1,010");
    assert_int_equal(table_validate(m, NULL), 0);
    table_free(m);
    table_free(a);
    table_free(own);
    table_free(b);
    table_free(h);
    table_free(n);
    table_free(y);
    table_free(yh);
}

static void test_table__merge_parts(void **state)
{
    static const char *const head[] = {"Region", "Units", "Revenue"};
    struct table *a = make_part(head, "a", 2, true, 0);
    struct table *b = make_part(head, "b", 1, true, 0);
    struct table *c = make_part(NULL, "c", 1, false, 0);
    /* a span in c, and one reaching into b's skipped header row */
    table_free(c);
    c = table_new(2, 3);
    put(c, 0, 0, 1, 2, CELL_DATA, "wide");
    put(c, 0, 2, 1, 1, CELL_DATA, "z");
    put(c, 1, 0, 1, 1, CELL_DATA, "last");
    const struct table *parts[] = {a, b, c};
    int skip[] = {7, 1, 0};   /* skip[0] is ignored */
    struct table *m = NULL;
    assert_int_equal(table_merge(parts, skip, 3, &m), 0);
    char *csv = table_render(m, TABLE_FORMAT_CSV, NULL);
    assert_string_equal(csv, "Region,Units,Revenue\r\nar0c0,ar0c1,ar0c2\r\nar1c0,ar1c1,ar1c2\r\n"
                             "br0c0,br0c1,br0c2\r\nwide,,z\r\nlast,,\r\n");
    free(csv);
    assert_int_equal(m->header_rows, 1);
    assert_false(table_cell_at(m, 1, 0)->has_bbox);
    assert_int_equal(table_validate(m, NULL), 0);
    table_free(m);

    /* a cell of the second part reaching from the repeated header into the body is clipped */
    struct table *d = table_new(3, 3);
    put(d, 0, 0, 2, 1, CELL_DATA, "tall");
    put(d, 0, 1, 1, 1, CELL_DATA, "p");
    put(d, 1, 1, 1, 1, CELL_DATA, "q");
    put(d, 2, 0, 1, 1, CELL_DATA, "r");
    const struct table *parts2[] = {a, d};
    int skip2[] = {0, 1};
    assert_int_equal(table_merge(parts2, skip2, 2, &m), 0);
    assert_int_equal(m->n_rows, 3 + 2);
    assert_string_equal(table_text_at(m, 3, 0), "tall");
    assert_string_equal(table_text_at(m, 3, 1), "q");
    assert_int_equal(table_cell_at(m, 3, 0)->rowspan, 1);
    assert_int_equal(table_validate(m, NULL), 0);
    table_free(m);

    /* column counts must agree; no parts is an error */
    struct table *two = table_new(1, 2);
    const struct table *bad[] = {a, two};
    assert_int_equal(table_merge(bad, NULL, 2, &m), QUIRE_EINVAL);
    assert_null(m);
    assert_int_equal(table_merge(parts, NULL, 0, &m), QUIRE_EINVAL);
    table_free(two);
    table_free(a);
    table_free(b);
    table_free(c);
    table_free(d);
}

static void test_table__allocation_failures_are_handled(void **state)
{
    int failures = 0;
    bool completed = false;
    for (long n = 1; n < 2000 && !completed; n++) {
        q_alloc_fail_after(n);
        completed = build_and_render_everything();
        q_alloc_fail_after(0);
        if (!completed)
            failures++;
    }
    assert_true(completed);
    assert_true(failures > 20); /* the loop did reach allocations deep inside every step */
    assert_true(build_and_render_everything());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table__new_set_and_look_up),
        cmocka_unit_test(test_table__set_cell_rejects_overlap_and_outside),
        cmocka_unit_test(test_table__validate_reports_broken_invariants),
        cmocka_unit_test(test_table__copy_is_deep_and_equal),
        cmocka_unit_test(test_table__format_names_and_options),
        cmocka_unit_test(test_table__otsl_simple),
        cmocka_unit_test(test_table__otsl_spans_one_dimension),
        cmocka_unit_test(test_table__otsl_spans_two_dimensions),
        cmocka_unit_test(test_table__otsl_headers),
        cmocka_unit_test(test_table__otsl_loc_tokens_are_skipped),
        cmocka_unit_test(test_table__otsl_unicode_text_is_trimmed),
        cmocka_unit_test(test_table__otsl_strict_rejects),
        cmocka_unit_test(test_table__otsl_repair_fixes_near_misses),
        cmocka_unit_test(test_table__otsl_round_trip),
        cmocka_unit_test(test_table__otsl_random_input_properties),
        cmocka_unit_test(test_table__random_tables_round_trip_and_render),
        cmocka_unit_test(test_table__markdown_plain),
        cmocka_unit_test(test_table__markdown_escaping),
        cmocka_unit_test(test_table__markdown_spans),
        cmocka_unit_test(test_table__markdown_empty_one_unicode_multiline),
        cmocka_unit_test(test_table__latex_plain),
        cmocka_unit_test(test_table__latex_escaping),
        cmocka_unit_test(test_table__latex_spans),
        cmocka_unit_test(test_table__latex_empty_one_unicode_multiline),
        cmocka_unit_test(test_table__latex_compiles_with_pdflatex),
        cmocka_unit_test(test_table__html_plain),
        cmocka_unit_test(test_table__html_escaping),
        cmocka_unit_test(test_table__html_spans),
        cmocka_unit_test(test_table__html_empty_one_unicode_multiline),
        cmocka_unit_test(test_table__csv_plain),
        cmocka_unit_test(test_table__csv_escaping),
        cmocka_unit_test(test_table__csv_spans),
        cmocka_unit_test(test_table__csv_empty_one_unicode_multiline),
        cmocka_unit_test(test_table__json_plain),
        cmocka_unit_test(test_table__json_escaping),
        cmocka_unit_test(test_table__json_spans),
        cmocka_unit_test(test_table__json_empty_one_unicode_multiline),
        cmocka_unit_test(test_table__continues_with_and_without_repeated_header),
        cmocka_unit_test(test_table__continues_rejects),
        cmocka_unit_test(test_table__continues_notes_and_body_header),
        cmocka_unit_test(test_table__merge_parts),
        cmocka_unit_test(test_table__allocation_failures_are_handled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
