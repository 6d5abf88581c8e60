/*
 * llm/image.c - page image -> encoder input, as Idefics3ImageProcessor prepares it, and the
 * prompt text that stands for the image.
 *
 * transformers resizes with PIL (resample=LANCZOS) on 8-bit pixels, so the resize here is
 * PIL's two-pass resampler (Pillow's Resample.c): double-precision Lanczos-3 weights, widened
 * support when shrinking, weights turned into 22-bit fixed point, a horizontal pass then a
 * vertical pass, each rounded and clamped to 8 bits. Same arithmetic, same pixels: the tests
 * compare against PIL through train/idefics3_ref.py. The size arithmetic copies the
 * processor's (int() truncation, rounding odd sides up to even, ceil to multiples of the tile).
 */
#include "llm_internal.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)
#define MAX_IMAGE_SIDE 4096 /* transformers' MAX_IMAGE_SIZE */

static double sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double lanczos(double x) { return (-3.0 <= x && x < 3.0) ? sinc(x) * sinc(x / 3) : 0.0; }

/* Per output pixel: first input index, count, and ksize fixed-point weights. */
struct coeffs {
    int ksize;
    int *bounds; /* (out_size, 2) */
    int32_t *k;  /* (out_size, ksize) */
};

static int precompute(int in_size, int out_size, struct coeffs *c)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 3.0 * filterscale;
    c->ksize = (int)ceil(support) * 2 + 1;
    c->bounds = q_malloc(sizeof(int) * 2 * (size_t)out_size);
    c->k = q_malloc(sizeof(int32_t) * (size_t)out_size * c->ksize);
    double *w = q_malloc(sizeof(double) * (size_t)c->ksize);
    if (!c->bounds || !c->k || !w) {
        free(w);
        return QUIRE_ENOMEM;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax;
        if (xmin < 0)
            xmin = 0;
        xmax = (int)(center + support + 0.5);
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            w[x] = lanczos((x + xmin - center + 0.5) * ss);
            ww += w[x];
        }
        int32_t *k = c->k + (size_t)xx * c->ksize;
        for (int x = 0; x < c->ksize; x++) {
            double v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;
            k[x] = (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS)
                                   : 0.5 + v * (1 << PRECISION_BITS));
        }
        c->bounds[2 * xx] = xmin;
        c->bounds[2 * xx + 1] = xmax;
    }
    free(w);
    return 0;
}

static uint8_t clip8(int32_t v)
{
    if (v < 0)
        return 0;
    v >>= PRECISION_BITS;
    return v > 255 ? 255 : (uint8_t)v;
}

/* RGB in (iw x ih, istride) -> out (ow x oh, stride 3 ow). */
static int resize(const uint8_t *in, int iw, int ih, size_t istride, uint8_t *out, int ow, int oh)
{
    int err = 0;
    struct coeffs h = {0}, v = {0};
    uint8_t *tmp = NULL;
    if (iw == ow && ih == oh) {
        for (int y = 0; y < oh; y++)
            memcpy(out + (size_t)y * 3 * ow, in + y * istride, 3 * (size_t)ow);
        return 0;
    }
    /* horizontal pass (when the width changes) into tmp (ow x ih) */
    const uint8_t *src = in;
    size_t src_stride = istride;
    if (iw != ow) {
        if ((err = precompute(iw, ow, &h)))
            goto out;
        if (!(tmp = q_malloc(3 * (size_t)ow * ih))) {
            err = QUIRE_ENOMEM;
            goto out;
        }
        for (int y = 0; y < ih; y++)
            for (int xx = 0; xx < ow; xx++) {
                const int32_t *k = h.k + (size_t)xx * h.ksize;
                int xmin = h.bounds[2 * xx], n = h.bounds[2 * xx + 1];
                for (int ch = 0; ch < 3; ch++) {
                    int32_t ss = 1 << (PRECISION_BITS - 1);
                    for (int x = 0; x < n; x++)
                        ss += in[y * istride + 3 * (size_t)(x + xmin) + ch] * k[x];
                    tmp[(size_t)y * 3 * ow + 3 * (size_t)xx + ch] = clip8(ss);
                }
            }
        src = tmp;
        src_stride = 3 * (size_t)ow;
    }
    if (ih == oh) {
        for (int y = 0; y < oh; y++)
            memcpy(out + (size_t)y * 3 * ow, src + y * src_stride, 3 * (size_t)ow);
        goto out;
    }
    if ((err = precompute(ih, oh, &v)))
        goto out;
    for (int yy = 0; yy < oh; yy++) {
        const int32_t *k = v.k + (size_t)yy * v.ksize;
        int ymin = v.bounds[2 * yy], n = v.bounds[2 * yy + 1];
        for (int xx = 0; xx < 3 * ow; xx++) {
            int32_t ss = 1 << (PRECISION_BITS - 1);
            for (int y = 0; y < n; y++)
                ss += src[(y + ymin) * src_stride + xx] * k[y];
            out[(size_t)yy * 3 * ow + xx] = clip8(ss);
        }
    }
out:
    free(h.bounds);
    free(h.k);
    free(v.bounds);
    free(v.k);
    free(tmp);
    return err;
}

/* _resize_output_size_rescale_to_max_len, then _resize_output_size_scale_below_upper_bound. */
static void fit_longest_edge(int *height, int *width, int max_len)
{
    int h = *height, w = *width;
    double aspect = (double)w / h;
    if (w >= h) {
        w = max_len;
        h = (int)(w / aspect);
        h += h % 2;
    } else {
        h = max_len;
        w = (int)(h * aspect);
        w += w % 2;
    }
    h = h < 1 ? 1 : h;
    w = w < 1 ? 1 : w;
    aspect = (double)w / h;
    if (w >= h && w > MAX_IMAGE_SIDE) {
        w = MAX_IMAGE_SIDE;
        h = (int)(w / aspect);
    } else if (h > w && h > MAX_IMAGE_SIDE) {
        h = MAX_IMAGE_SIDE;
        w = (int)(h * aspect);
    }
    *height = h < 1 ? 1 : h;
    *width = w < 1 ? 1 : w;
}

static int ceil_to(int v, int m) { return (v + m - 1) / m * m; }

/* resize_for_vision_encoder: both sides up to multiples of the tile size. */
static void fit_tiles(int *height, int *width, int tile)
{
    int h = *height, w = *width;
    double aspect = (double)w / h;
    if (w >= h) {
        w = ceil_to(w, tile);
        h = ceil_to((int)(w / aspect), tile);
    } else {
        h = ceil_to(h, tile);
        w = ceil_to((int)(h * aspect), tile);
    }
    /* transformers would produce an empty side for extreme aspect ratios; keep one tile */
    *height = h < tile ? tile : h;
    *width = w < tile ? tile : w;
}

/* One S x S RGB tile -> (3, S, S) floats: x / 255 in float, then (x - mean) / std. */
static void to_pixels(const uint8_t *rgb, size_t stride, int size,
                      const struct llm_image_options *o, float *out)
{
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                float v = (float)(rgb[y * stride + 3 * (size_t)x + ch] * (1.0 / 255.0));
                out[((size_t)ch * size + y) * size + x] = (v - o->mean[ch]) / o->std[ch];
            }
}

void llm_image_options_default(const struct llm_model *m, struct llm_image_options *o)
{
    o->longest_edge = 4 * m->config.vision.image_size;
    o->split = true;
    for (int i = 0; i < 3; i++) {
        o->mean[i] = 0.5f;
        o->std[i] = 0.5f;
    }
}

static bool json_int(JsonObject *o, const char *key, int *out)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    if (!n || !JSON_NODE_HOLDS_VALUE(n) || json_node_get_value_type(n) != G_TYPE_INT64)
        return false;
    *out = (int)json_node_get_int(n);
    return true;
}

static JsonObject *json_obj(JsonObject *o, const char *key)
{
    JsonNode *n = o ? json_object_get_member(o, key) : NULL;
    return n && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

/* Three numbers (image_mean / image_std); false when present but malformed. */
static bool json_triple(JsonObject *o, const char *key, float out[3])
{
    JsonNode *n = json_object_get_member(o, key);
    if (!n)
        return true;
    if (!JSON_NODE_HOLDS_ARRAY(n) || json_array_get_length(json_node_get_array(n)) != 3)
        return false;
    for (guint i = 0; i < 3; i++) {
        JsonNode *e = json_array_get_element(json_node_get_array(n), i);
        GType t = JSON_NODE_HOLDS_VALUE(e) ? json_node_get_value_type(e) : G_TYPE_INVALID;
        if (t != G_TYPE_DOUBLE && t != G_TYPE_INT64)
            return false;
        out[i] = (float)json_node_get_double(e);
    }
    return true;
}

int llm_image_options_load(const struct llm_model *m, const char *dir,
                           struct llm_image_options *o, char **msg)
{
    llm_image_options_default(m, o);
    char *path = q_asprintf("%s/preprocessor_config.json", dir);
    if (!path)
        return QUIRE_ENOMEM;
    int err = 0, v;
    const char *why = NULL;
    GError *gerr = NULL;
    JsonParser *parser = json_parser_new();
    if (!json_parser_load_from_file(parser, path, &gerr)) {
        if (!g_error_matches(gerr, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            why = "not valid JSON";
        g_error_free(gerr);
        goto out;
    }
    JsonNode *root = json_parser_get_root(parser);
    JsonObject *obj = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    if (!obj) {
        why = "not a JSON object";
        goto out;
    }
    if (json_int(json_obj(obj, "size"), "longest_edge", &v))
        o->longest_edge = v;
    if (json_int(json_obj(obj, "max_image_size"), "longest_edge", &v) &&
        v != m->config.vision.image_size)
        why = "max_image_size.longest_edge differs from vision_config.image_size";
    else if (json_int(obj, "resample", &v) && v != 1)
        why = "resample: only 1 (LANCZOS) is supported";
    else if (!json_triple(obj, "image_mean", o->mean) || !json_triple(obj, "image_std", o->std))
        why = "image_mean / image_std: want three numbers";
    else if (o->longest_edge < 1 || o->longest_edge > MAX_IMAGE_SIDE)
        why = "size.longest_edge out of range";
    JsonNode *split = json_object_get_member(obj, "do_image_splitting");
    if (split && JSON_NODE_HOLDS_VALUE(split) &&
        json_node_get_value_type(split) == G_TYPE_BOOLEAN)
        o->split = json_node_get_boolean(split);
out:
    if (why) {
        err = QUIRE_EMODEL;
        if (msg) {
            free(*msg);
            *msg = q_asprintf("%s: %s", path, why);
        }
    }
    g_object_unref(parser);
    free(path);
    return err;
}

int llm_image_preprocess(const struct llm_model *m, const struct llm_image_options *o,
                         const uint8_t *image, int width, int height, size_t stride,
                         int channels, float **pixels, int *n_images, int *rows, int *cols)
{
    int S = m->config.vision.image_size, err;
    if (m->config.vision.n_channels != 3 || width < 1 || height < 1 ||
        width > 1 << 16 || height > 1 << 16 || (channels != 1 && channels != 3) ||
        stride < (size_t)channels * width ||
        o->longest_edge < 1 || o->longest_edge > MAX_IMAGE_SIDE || !o->std[0] || !o->std[1] ||
        !o->std[2])
        return QUIRE_EINVAL;
    uint8_t *expanded = NULL;
    const uint8_t *rgb = image;
    if (channels == 1) { /* gray -> RGB, each value copied to the three channels */
        if (!(expanded = q_malloc(3 * (size_t)width * height)))
            return QUIRE_ENOMEM;
        for (int y = 0; y < height; y++)
            for (int x = 0; x < width; x++)
                memset(expanded + 3 * ((size_t)y * width + x), image[y * stride + x], 3);
        rgb = expanded;
        stride = 3 * (size_t)width;
    }
    int h1 = height, w1 = width;
    fit_longest_edge(&h1, &w1, o->longest_edge);
    int h2 = h1, w2 = w1;
    if (o->split)
        fit_tiles(&h2, &w2, S);
    *rows = *cols = 0;
    if (o->split && (h2 > S || w2 > S)) {
        *rows = h2 / S; /* h2, w2 are multiples of S: ceil(h2 / S) tiles of exactly S */
        *cols = w2 / S;
    }
    *n_images = *rows * *cols + 1;
    size_t image_len = (size_t)3 * S * S;
    uint8_t *a = q_malloc(3 * (size_t)w1 * h1);
    uint8_t *b = o->split ? q_malloc(3 * (size_t)w2 * h2) : NULL;
    uint8_t *g = q_malloc(3 * (size_t)S * S);
    float *out = q_malloc(sizeof(float) * image_len * *n_images);
    if (!a || (o->split && !b) || !g || !out) {
        err = QUIRE_ENOMEM;
        goto fail;
    }
    if ((err = resize(rgb, width, height, stride, a, w1, h1)))
        goto fail;
    const uint8_t *whole = a;
    int wh = h1, ww = w1;
    if (o->split) {
        if ((err = resize(a, w1, h1, 3 * (size_t)w1, b, w2, h2)))
            goto fail;
        whole = b;
        wh = h2;
        ww = w2;
        for (int r = 0; r < *rows; r++)
            for (int c = 0; c < *cols; c++)
                to_pixels(b + (size_t)r * S * 3 * w2 + 3 * (size_t)c * S, 3 * (size_t)w2, S, o,
                          out + (size_t)(r * *cols + c) * image_len);
    }
    if ((err = resize(whole, ww, wh, 3 * (size_t)ww, g, S, S)))
        goto fail;
    to_pixels(g, 3 * (size_t)S, S, o, out + (size_t)(*n_images - 1) * image_len);
    free(a);
    free(b);
    free(g);
    free(expanded);
    *pixels = out;
    return 0;
fail:
    free(expanded);
    free(a);
    free(b);
    free(g);
    free(out);
    return err;
}

char *llm_image_prompt(int rows, int cols, int image_seq_len)
{
    static const char fake[] = "<fake_token_around_image>", img[] = "<image>";
    size_t tile = strlen(fake) + 24 + (size_t)image_seq_len * strlen(img);
    size_t cap = (size_t)rows * cols * tile + (size_t)rows + 2 * tile + 2;
    char *s = q_malloc(cap), *p = s;
    if (!s)
        return NULL;
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) {
            p += sprintf(p, "%s<row_%d_col_%d>", fake, r + 1, c + 1);
            for (int i = 0; i < image_seq_len; i++)
                p = stpcpy(p, img);
        }
        p = stpcpy(p, "\n");
    }
    if (rows || cols)
        p = stpcpy(p, "\n");
    p = stpcpy(stpcpy(p, fake), "<global-img>");
    for (int i = 0; i < image_seq_len; i++)
        p = stpcpy(p, img);
    stpcpy(p, fake);
    return s;
}
