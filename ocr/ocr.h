/*
 * ocr/ocr.h - reads the tables of scanned pages with quire's line reader.
 *
 * What it does: a page without a text layer has table regions (vision/ finds them from the
 * raster) but no words to build a table from. ocr_read_table() gives the text-layer engine
 * those words: the words cut from the ink (vision_ink_view()), each read by the line reader
 * (llm_reader: the vision encoder trained to read text lines, with a CTC head), then
 * textlayer_extract() on them, so a scanned table gets the same structure inference as a
 * born-digital one.
 *
 * Design:
 *  - Each word of the region is resampled from the page raster into one band of a reader tile:
 *    scaled so that its x-height (a share of its font size, which vision/ estimates from the
 *    glyphs; see below) becomes the reader's x_height, turned by the page's skew (the view's
 *    upright frame), its box centred in the band 8 px from its left edge, only the pixels
 *    inside its box copied (white around), the paper brightened to white. A word too wide for
 *    a band is cut into pieces at its lightest columns and the pieces' texts joined.
 *  - Each word is read in several ways, at x-heights of 0.4-0.6 of its font size (vision/'s
 *    font size is one estimate for the whole page, and the reader is sensitive to scale) and
 *    two sampling phases; the reading whose confidences summed over the ways that gave it are
 *    highest is kept. A word whose first three readings agree is not read the other ways.
 *  - Bands are filled in reading order, n_bands words per tile; a word read as nothing is
 *    dropped; a reading with a space inside becomes several words, the box cut in proportion
 *    to their characters.
 *  - The words then get the geometry the text-layer engine's em-based gaps expect: a font size
 *    per text line from the height of its words' ink and what they read (capitals, digits and
 *    ascenders reach 0.72 em, descenders 0.21 em below the baseline), and boxes from the ink
 *    out to 0.05 em beside it, 0.8 em above the baseline and 0.2 em below.
 *  - Rulings that lie within a read word (a letter's stem taken for a line in a shaded header)
 *    are left out of the layout the text-layer engine sees.
 *  - The words are in the upright frame; textlayer_extract() runs on the view's turned layout
 *    and region, and the table's cell boxes are turned back into the page's frame.
 *  - Confidence: the mean over the table's words of the reader's confidence.
 *
 * Ownership: a `struct ocr` is read-only after ocr_load() and shared by threads; each call of
 * ocr_read_table() makes its own reader state. On success *out is a new table the caller frees
 * (table_free). Thread-safety: any thread, concurrently.
 */
#ifndef QUIRE_OCR_H
#define QUIRE_OCR_H

#include "../common/common.h"
#include "../ingest/ingest.h"
#include "../table/table.h"
#include "../vision/vision.h"

struct ocr;

/* Loads the line reader in `dir` (llm_reader_load). NULL with *err and *msg (caller frees) as
 * llm_reader_load sets them. Any thread. */
struct ocr *ocr_load(const char *dir, int *err, char **msg);
void ocr_free(struct ocr *ocr); /* NULL is a no-op */
/* The reader's id: its folder's name (owned by ocr). */
const char *ocr_id(const struct ocr *ocr);

/* The table in region `region` (an index into view->layout, which mirrors the layout the view
 * was made from) of `page` (the page the view was made from: its raster is read). Returns 0
 * with *out and *confidence set, QUIRE_EINVAL (no word read in the region: *msg says so) or
 * QUIRE_ENOMEM. */
int ocr_read_table(const struct ocr *ocr, const struct page *page, const struct ink_view *view,
                   size_t region, struct table **out, double *confidence, char **msg);

/* The words of region `region` read (as ocr_read_table() gives them to the text-layer engine:
 * in the upright frame of `view`, one per word read, with the text-layer-like geometry of
 * "Design"): a new page without raster (free with ocr_words_free()), and the mean confidence
 * of the words read. Returns 0, QUIRE_EINVAL (region out of range, page without raster) or
 * QUIRE_ENOMEM. */
int ocr_read_words(const struct ocr *ocr, const struct page *page, const struct ink_view *view,
                   size_t region, struct page **out, double *confidence);
void ocr_words_free(struct page *words); /* NULL is a no-op */

/* Reads one word box (upright frame of `view`, points) of `page` as the pipeline does: for
 * tools and tests. *text is a new string (caller frees). Returns 0 or QUIRE_ENOMEM. */
int ocr_read_box(const struct ocr *ocr, const struct page *page, const struct ink_view *view,
                 struct rect box, double font_size, char **text, double *confidence);

#endif
