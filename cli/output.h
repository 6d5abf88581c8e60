/* output.h - private to cli/: printing processed documents. */
#ifndef QUIRE_CLI_OUTPUT_H
#define QUIRE_CLI_OUTPUT_H

#include <stdio.h>

#include "../workers/workers.h"

/* Prints a processed document: in JSON, one line (the JSON Lines contract); in the other formats,
 * each table under a heading line written as a comment of that format ("### " in Markdown, "% "
 * in LaTeX, "<!-- -->" in HTML, "# " in CSV). Returns 0 or QUIRE_ENOMEM. Loop thread. */
int output_document(FILE *out, const struct doc_job *job, enum table_format f,
                    const struct render_options *ro);

#endif
