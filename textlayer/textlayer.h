/*
 * textlayer/textlayer.h - a table built from the PDF's own text layer inside a region.
 *
 * What it does: textlayer_extract() takes a page, the layout vision_analyze() found for it and one
 * of its regions, and builds a `struct table` from the words inside the region. This is quire's
 * engine for born-digital PDFs (the model engine in llm/ covers scans).
 *
 * Design:
 *  - Columns: in ruled regions, the vertical rulings (clustered within 3 pt); a whitespace gap of
 *    the text inside a ruled column that both sides fill on >= 3 lines adds a sub-column (a ruled
 *    header over unruled sub-columns). Otherwise the gaps in the projection of the words onto the
 *    x axis (vision_column_gaps): x-intervals that at most 15% of the lines cross. A wide gap
 *    with words of >= 2 lines well inside it holds a column of its own (filled only in the
 *    header and a few rows). Section titles (one phrase from the left edge, at most a quarter
 *    of the lines) may cross more gaps than that: a gap of the other lines that overlaps no
 *    gap of all of them is a column edge too. In monospaced text (every word as wide as its
 *    characters) a word space is a whole advance, so a gap no wider than one is a column only
 *    when no word of the other lines crosses it (a one-word header line over both columns may,
 *    when >= 3 lines fill both sides) and a header leaves a wide gap there ("27 Feb
 *    2009" stays one cell); such gaps are looked for down to 0.7 advance, since glyph boxes
 *    sit inside their advances. In proportional text a gap between a word space (0.36 em)
 *    and 0.5 em wide is a column when no word crosses it and, on >= 3 lines (four in five of
 *    those filling both sides), the words before it end at one x and those after it start, or
 *    end, at one x (right-aligned numbers beside a left-aligned or right-aligned column).
 *  - Rows: in ruled regions, the horizontal rulings; a band between two rulings that holds far
 *    more lines than the typical band, >= 3 of them filling the first column and another one, is
 *    an unruled body and is cut into text rows (a label wrapped above its numbers, the next line
 *    starting in lower case, stays with them). In rule-only regions the rules are rows when they
 *    separate (nearly) every row; otherwise (booktabs) rows come from the text lines and a long
 *    rule only forces a break. Text rows: one per line, except that a line continues the row
 *    above when it only fills columns the row already fills (at most half of them) and either
 *    leaves the key first column empty close below, or sits clearly closer than rows sit to each
 *    other (the row spacing is the gap above each line that starts a row, so tables where
 *    every row wraps count too); consecutive bold header lines merge the same way, and a bold
 *    header cell's wrapped lines set closely join their row. A line overlapping the line above
 *    by a third of its height in other columns (a two-line cell centred on its row) joins that
 *    row; a label centred on two rows, overlapping both equally, joins the upper one, and so
 *    does one set midway in the gap between two rows no farther apart than rows usually are.
 *  - Spans: two neighbouring positions are one cell when no ruling separates them (ruled edges; a
 *    column or row no ruling reaches at all, such as a label column left of the grid, is split
 *    by its text rows), when a phrase (words closer than a word space) has a word across a text
 *    edge and no other line of the row keeps the two sides apart (a header over several
 *    columns), or when a ruled cell holds text in only one of its sub-columns. Cells grow
 *    right, then down, from their anchor and stay rectangular.
 *  - Cell text: the words whose centre lies in the cell, line by line, left to right, joined with
 *    spaces, so a multi-line cell stays one cell; dot leaders ("Total . . . . .") are dropped. In
 *    fully ruled grids, sideways words (vertical column headers) join their cell after the
 *    upright ones, in their own reading order.
 *  - Header rows: leading rows whose words are all bold, or, in a booktabs region, the rows above
 *    the first inner rule when it lies in the upper half; they get CELL_COLUMN_HEADER and set
 *    table->header_rows.
 *  - Every cell gets a bbox: the grid cell in fully ruled tables, the union of its words otherwise.
 *  - Sideways regions (region->rotation 90/180/270) are extracted on a turned view of the page and
 *    their cell boxes turned back into page coordinates.
 *
 * Ownership: on success *out is a new table the caller frees with table_free(); on failure *msg
 * (when msg != NULL) is a new string the caller frees with free(). page, layout and region are
 * only read. Thread-safety: no global state; any thread may call it on distinct pages.
 */
#ifndef QUIRE_TEXTLAYER_H
#define QUIRE_TEXTLAYER_H

#include "../common/common.h"
#include "../ingest/ingest.h"
#include "../table/table.h"
#include "../vision/vision.h"

/* Builds the table inside `region` (which should come from `layout`, and may be any rectangle)
 * from the page's words. Returns 0 with *out set, QUIRE_EINVAL (NULL argument, or the region
 * holds no words: *msg says so) or QUIRE_ENOMEM. Any thread. */
int textlayer_extract(const struct page *page, const struct page_layout *layout,
                      const struct region *region, struct table **out, char **msg);

#endif
