# quire - Makefile. Run `make help` for the targets.
#
# Every module folder's .c files go into build/libquire.a; cli/ links it into build/quire;
# tests/test_<name>.c become build/tests/test_<name> (cmocka, plus tests/support/*.c);
# tools/*.c and bench/*.c become programs in build/tools and build/bench (linked with
# tests/support/pdfgen.c too: they draw PDFs with it).

PKGS      := poppler-glib cairo cairo-pdf glib-2.0 gio-2.0 json-glib-1.0 libpng sqlite3 libuv openblas
CFLAGS    ?= -O2 -g
LDFLAGS   ?=
BUILD     ?= build
PREFIX    ?= /usr/local
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -MMD -MP \
             -DQUIRE_DATADIR='"$(PREFIX)/share/quire"' $(PKG_CFLAGS) $(CFLAGS)
LIBS       = $(PKG_LIBS) -lm -lpthread

MODULES   := common config table ingest vision textlayer llm ocr store workers
LIB_SRC   := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(wildcard cli/*.c))
SUP_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/support/*.c))
PDFGEN_OBJ := $(BUILD)/tests/support/pdfgen.o
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TOOLS     := $(patsubst tools/%.c,$(BUILD)/tools/%,$(wildcard tools/*.c))
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(wildcard bench/*.c))

.PHONY: all deps test asan tsan valgrind fuzz bench bench-tabula demo eval eval-engines install clean help

all: $(BUILD)/quire $(TOOLS)        ## build the quire binary and the tools

deps:                               ## install the missing Debian packages (idempotent)
	sh tools/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libquire.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/quire: $(CLI_OBJ) $(BUILD)/libquire.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(SUP_OBJ) $(BUILD)/libquire.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/tools/%: $(BUILD)/tools/%.o $(PDFGEN_OBJ) $(BUILD)/libquire.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(PDFGEN_OBJ) $(BUILD)/libquire.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

test: deps                          ## install what is missing, build, run every test
	$(MAKE) --no-print-directory all $(TESTS)
	python3 tools/test_tabula_as_quire.py -q
	QUIRE_BIN=$(abspath $(BUILD)/quire) QUIRE_TOOLS=$(abspath $(BUILD)/tools) \
	    sh tests/run-tests.sh $(TESTS)

asan:                               ## the tests under AddressSanitizer + UndefinedBehaviorSanitizer
	LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) $(MAKE) --no-print-directory test BUILD=build-asan \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined"

tsan:                               ## the threaded tests (workers, end to end) under ThreadSanitizer
	$(MAKE) --no-print-directory BUILD=build-tsan CFLAGS="-O1 -g -fsanitize=thread" \
	    LDFLAGS="-fsanitize=thread" build-tsan/quire build-tsan/tests/test_workers \
	    build-tsan/tests/test_e2e build-tsan/tests/test_store
	G_SLICE=always-malloc TSAN_OPTIONS="halt_on_error=1 exitcode=66 \
	    suppressions=$(abspath tests/tsan.supp)" QUIRE_BIN=$(abspath build-tsan/quire) \
	    sh tests/run-tests.sh build-tsan/tests/test_workers build-tsan/tests/test_store \
	    build-tsan/tests/test_e2e

valgrind: all $(TESTS)              ## the unit tests under valgrind (memcheck, leaks)
	# OpenBLAS's generic SSE3 kernels: memcheck runs its AVX2/FMA ones about 6x slower
	OPENBLAS_CORETYPE=Prescott QUIRE_BIN=$(abspath $(BUILD)/quire) QUIRE_TOOLS=$(abspath $(BUILD)/tools) \
	    VALGRIND="valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
	    --suppressions=$(abspath tests/valgrind.supp) --error-exitcode=99" \
	    sh tests/run-tests.sh $(filter-out %/test_e2e,$(TESTS))

fuzz:                               ## libFuzzer on the model-file, tokenizer and reader loaders (clang), FUZZ_SECONDS each
	sh tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

bench: all $(BENCHES)               ## run the benchmarks; prints `name: value` lines
	sh bench/run.sh $(BUILD)

bench-tabula: all                   ## install java and npm, fetch tabula-java, time quire against it
	sh tools/install-deps.sh --tabula
	sh tools/fetch-tabula.sh $(BUILD)/tabula
	sh bench/tabula.sh $(BUILD)

demo: deps                          ## install, build, convert examples/*.pdf and scanned copies into ./quire.db, print Markdown
	$(MAKE) --no-print-directory all
	rm -rf $(BUILD)/demo-scans
	$(BUILD)/tools/scanify examples $(BUILD)/demo-scans >/dev/null
	$(BUILD)/quire convert --db quire.db --format md examples/*.pdf $(BUILD)/demo-scans/*.pdf

eval: all                           ## score quire on ../shared/eval-dev and on the generated sets
	python3 tools/eval.py --quire $(BUILD)/quire --by-style --gen-count 200
	sh tools/install-deps.sh --latex
	rm -rf $(BUILD)/eval-latex
	python3 tools/genlatex.py --out $(BUILD)/eval-latex --count 70 --seed 1
	python3 tools/eval.py --quire $(BUILD)/quire --by-style --set $(BUILD)/eval-latex
	rm -rf $(BUILD)/eval-darkhead
	$(BUILD)/tools/gentables --out $(BUILD)/eval-darkhead --count 80 --seed 5 --style darkhead >/dev/null
	python3 tools/eval.py --quire $(BUILD)/quire --set $(BUILD)/eval-darkhead
	rm -rf $(BUILD)/eval-gen $(BUILD)/eval-scan
	$(BUILD)/tools/gentables --out $(BUILD)/eval-gen --count 90 --seed 11 >/dev/null
	$(BUILD)/tools/scanify $(BUILD)/eval-gen $(BUILD)/eval-scan
	python3 tools/eval_regions.py --pagedump $(BUILD)/tools/pagedump $(BUILD)/eval-gen \
	    $(BUILD)/eval-scan
	python3 tools/eval.py --quire $(BUILD)/quire --by-style --set $(BUILD)/eval-scan \
	    --reader models/quire-reader

eval-engines: all                   ## the text, vlm and auto engines side by side (MODEL=dir, default models/quire-table)
	python3 tools/eval_engines.py --quire $(BUILD)/quire --model $(or $(MODEL),models/quire-table)

install: all                        ## install the binary, the default config and the shipped models under PREFIX
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/quire
	install -m 755 $(BUILD)/quire $(DESTDIR)$(PREFIX)/bin/quire
	install -m 644 configs/quire.conf $(DESTDIR)$(PREFIX)/share/quire/quire.conf
	for m in quire-table quire-reader; do \
	    if [ -f models/$$m/config.json ]; then \
	        install -d $(DESTDIR)$(PREFIX)/share/quire/models/$$m && \
	        install -m 644 models/$$m/* $(DESTDIR)$(PREFIX)/share/quire/models/$$m/; fi; done

clean:                              ## remove the build output
	rm -rf build build-asan build-tsan

help:                               ## list the targets
	@grep -hE '^[a-z-]+:.*##' Makefile | sed -E 's/:[^#]*## */:\t/'

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SUP_OBJ:.o=.d) $(TESTS:=.d) $(TOOLS:=.d) $(BENCHES:=.d)
