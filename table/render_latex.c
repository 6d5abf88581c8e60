/*
 * table/render_latex.c - a table as a LaTeX tabular (needs \usepackage{multirow}, and booktabs
 * when render_options.latex_booktabs).
 *
 * Columns are left-aligned, without vertical rules; rules are \toprule/\midrule/\bottomrule or
 * \hline at the top, below the header rows and at the bottom. A cell spanning columns is
 * \multicolumn{n}{c}{...}; spanning rows, \multirow{m}{*}{...} with empty slots below it; both,
 * \multicolumn{n}{c}{\multirow{m}{*}{...}} with \multicolumn{n}{c}{} in the rows below.
 * Multi-line text becomes a one-column tabular (\begin{tabular}[t]{@{}l@{}}a\\b\end{tabular}),
 * which works in every cell, \multirow included, without further packages.
 * A table with no columns renders as a LaTeX comment (a tabular cannot have no columns).
 */
#include "table_internal.h"

#include <stdlib.h>
#include <string.h>

static void put_latex_char(struct table__buf *b, char ch, bool first)
{
    switch (ch) {
    case '&': case '%': case '$': case '#': case '_': case '{': case '}':
        table__buf_putc(b, '\\');
        table__buf_putc(b, ch);
        break;
    case '~': table__buf_puts(b, "\\textasciitilde{}"); break;
    case '^': table__buf_puts(b, "\\textasciicircum{}"); break;
    case '\\': table__buf_puts(b, "\\textbackslash{}"); break;
    /* OT1 fonts print '<' and '>' as inverted '!' and '?'; '|' as a dash */
    case '<': table__buf_puts(b, "\\textless{}"); break;
    case '>': table__buf_puts(b, "\\textgreater{}"); break;
    case '|': table__buf_puts(b, "\\textbar{}"); break;
    case '[': table__buf_puts(b, "{[}"); break;            /* not read as \\[<length>] */
    case '*': table__buf_puts(b, first ? "{*}" : "*"); break; /* not read as \\* */
    case '\t': table__buf_putc(b, ' '); break;
    default:
        if ((unsigned char)ch >= 0x20 && ch != 0x7f)
            table__buf_putc(b, ch); /* other control characters are dropped */
        break;
    }
}

static void put_latex_text(struct table__buf *b, const char *s)
{
    bool multi_line = strpbrk(s, "\r\n") != NULL;
    if (multi_line)
        table__buf_puts(b, "\\begin{tabular}[t]{@{}l@{}}");
    for (const char *p = s; *p; p++) {
        if (*p == '\r' || *p == '\n') {
            if (*p == '\r' && p[1] == '\n')
                p++;
            table__buf_puts(b, "\\\\");
        } else {
            put_latex_char(b, *p, p == s);
        }
    }
    if (multi_line)
        table__buf_puts(b, "\\end{tabular}");
}

static void put_latex_row(struct table__buf *b, const struct table *t, const int *map, int r)
{
    for (int c = 0; c < t->n_cols;) {
        if (c > 0)
            table__buf_puts(b, " & ");
        int i = map[(size_t)r * t->n_cols + c];
        const struct table_cell *cell = i >= 0 ? &t->cells[i] : NULL;
        if (!cell || cell->col != c) {
            c++; /* an empty position (cell->col != c only in a corrupt table) */
            continue;
        }
        bool anchor = cell->row == r;
        if (cell->colspan > 1)
            table__buf_printf(b, "\\multicolumn{%d}{c}{", cell->colspan);
        if (anchor && cell->rowspan > 1)
            table__buf_printf(b, "\\multirow{%d}{*}{", cell->rowspan);
        if (anchor)
            put_latex_text(b, cell->text);
        if (anchor && cell->rowspan > 1)
            table__buf_putc(b, '}');
        if (cell->colspan > 1)
            table__buf_putc(b, '}');
        c += cell->colspan;
    }
    table__buf_puts(b, " \\\\\n");
}

char *table__render_latex(const struct table *t, const struct render_options *opts)
{
    if (t->n_cols == 0)
        return q_asprintf("%% empty table (%d rows, no columns)\n", t->n_rows);
    int *map = table__cover_map(t);
    if (!map)
        return NULL;
    struct table__buf b = {0};
    bool booktabs = opts->latex_booktabs;
    table__buf_puts(&b, "\\begin{tabular}{");
    for (int c = 0; c < t->n_cols; c++)
        table__buf_putc(&b, 'l');
    table__buf_puts(&b, "}\n");
    table__buf_puts(&b, booktabs ? "\\toprule\n" : "\\hline\n");
    for (int r = 0; r < t->n_rows; r++) {
        put_latex_row(&b, t, map, r);
        if (r + 1 == t->header_rows && r + 1 < t->n_rows)
            table__buf_puts(&b, booktabs ? "\\midrule\n" : "\\hline\n");
    }
    table__buf_puts(&b, booktabs ? "\\bottomrule\n" : "\\hline\n");
    table__buf_puts(&b, "\\end{tabular}\n");
    free(map);
    return table__buf_finish(&b);
}
