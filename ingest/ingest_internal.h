/* ingest_internal.h - shared between the files of ingest/ only. */
#ifndef QUIRE_INGEST_INTERNAL_H
#define QUIRE_INGEST_INTERNAL_H

#include <poppler.h>

#include "ingest.h"

int ingest__check_pdf_header(const char *path, char **msg);
/* Fills page->words from the Poppler page's text layer. */
int ingest__extract_words(PopplerPage *pp, struct page *page);

#endif
