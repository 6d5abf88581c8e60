/* test_config.c - configuration defaults, the shipped file, malformed files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../config/config.h"

static char *write_temp(const char *text)
{
    char *path = g_strdup("/tmp/quire-test-config-XXXXXX");
    int fd = g_mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_config__defaults(void **state)
{
    struct config c;
    unsetenv("QUIRE_CONFIG");
    assert_int_equal(config_init(&c), 0);
    assert_string_equal(c.db_path, "quire.db");
    assert_int_equal(c.queue_size, 64);
    assert_true(c.dpi == 150);
    assert_int_equal(c.max_pages, 2000);
    assert_true(c.max_seconds == 0); /* 60 s per page read (workers/) */
    assert_string_equal(c.engine, "text");
    assert_false(c.markdown_repeat_spans);
    assert_true(c.latex_booktabs);
    config_release(&c);
}

/* Every option in configs/quire.conf is known and set to the built-in default. */
static void test_config__shipped_file_matches_defaults(void **state)
{
    GKeyFile *kf = g_key_file_new();
    assert_true(g_key_file_load_from_file(kf, "configs/quire.conf", G_KEY_FILE_NONE, NULL));
    gsize n_groups = 0, total = 0;
    char **groups = g_key_file_get_groups(kf, &n_groups);
    for (gsize g = 0; g < n_groups; g++) {
        gsize n_keys = 0;
        char **keys = g_key_file_get_keys(kf, groups[g], &n_keys, NULL);
        for (gsize k = 0; k < n_keys; k++) {
            char *v = g_key_file_get_value(kf, groups[g], keys[k], NULL);
            const char *def = config_default_value(groups[g], keys[k]);
            if (!def || strcmp(g_strstrip(v), def) != 0)
                fail_msg("[%s] %s = '%s' but the built-in default is '%s'", groups[g], keys[k], v,
                         def ? def : "(no such option)");
            g_free(v);
            total++;
        }
        g_strfreev(keys);
    }
    g_strfreev(groups);
    g_key_file_free(kf);
    assert_true(total >= 17);
    struct config c;
    assert_int_equal(config_load(&c, "configs/quire.conf", NULL), 0);
    assert_string_equal(c.source, "configs/quire.conf");
    config_release(&c);
}

static void test_config__file_overrides(void **state)
{
    char *path = write_temp("[store]\ndb = /tmp/x.db\n[pipeline]\nworkers = 3\ndpi = 150.5\n"
                            "[tables]\nengine = auto\nmarkdown_repeat_spans = yes\n"
                            "[model]\npath = /srv/models/quire-table\nthreads = 2\n");
    struct config c;
    assert_int_equal(config_load(&c, path, NULL), 0);
    assert_string_equal(c.db_path, "/tmp/x.db");
    assert_int_equal(c.workers, 3);
    assert_true(c.dpi == 150.5);
    assert_string_equal(c.engine, "auto");
    assert_true(c.markdown_repeat_spans);
    assert_string_equal(c.model_path, "/srv/models/quire-table");
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.queue_size, 64); /* untouched options keep their default */
    config_release(&c);
    unlink(path);
    g_free(path);
}

static void expect_error(const char *text, const char *needle)
{
    char *path = write_temp(text);
    struct config c;
    char *msg = NULL;
    assert_int_equal(config_load(&c, path, &msg), QUIRE_ECONFIG);
    assert_non_null(msg);
    if (!strstr(msg, needle) || !strstr(msg, path))
        fail_msg("message '%s' should name the file and contain '%s'", msg, needle);
    free(msg);
    unlink(path);
    g_free(path);
}

static void test_config__malformed(void **state)
{
    expect_error("[pipeline]\nworkers = many\n", "[pipeline] workers");
    expect_error("[pipeline]\nworkers = -1\n", "workers");
    expect_error("[pipeline]\nqueue_size = 2.5\n", "queue_size");
    expect_error("[tables]\nengine = magic\n", "engine");
    expect_error("[model]\nthreads = 0\n", "[model] threads");
    expect_error("[tables]\nlatex_booktabs = perhaps\n", "latex_booktabs");
    expect_error("this is not a key file\n", "");
    expect_error("[store]\ndb =\n", "db");
}

static void test_config__missing_file(void **state)
{
    struct config c;
    char *msg = NULL;
    assert_int_equal(config_load(&c, "/nonexistent/quire.conf", &msg), QUIRE_ENOENT);
    assert_non_null(strstr(msg, "/nonexistent/quire.conf"));
    free(msg);
}

static void test_config__env_selects_file(void **state)
{
    char *path = write_temp("[pipeline]\nmax_pages = 7\n");
    setenv("QUIRE_CONFIG", path, 1);
    struct config c;
    assert_int_equal(config_load(&c, NULL, NULL), 0);
    assert_int_equal(c.max_pages, 7);
    config_release(&c);
    unsetenv("QUIRE_CONFIG");
    unlink(path);
    g_free(path);
}

static void test_config__unknown_key_is_not_fatal(void **state)
{
    char *path = write_temp("[pipeline]\nworkerz = 3\n");
    struct config c;
    assert_int_equal(config_load(&c, path, NULL), 0);
    assert_int_equal(c.workers, 0);
    config_release(&c);
    unlink(path);
    g_free(path);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config__defaults),
        cmocka_unit_test(test_config__shipped_file_matches_defaults),
        cmocka_unit_test(test_config__file_overrides),
        cmocka_unit_test(test_config__malformed),
        cmocka_unit_test(test_config__missing_file),
        cmocka_unit_test(test_config__env_selects_file),
        cmocka_unit_test(test_config__unknown_key_is_not_fatal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
