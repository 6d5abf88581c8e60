/*
 * png.c - table crops as PNG files, for people checking a result by eye and for the model's
 * inputs when debugging. libpng, 8-bit grayscale.
 */
#include "ingest.h"

#include <png.h>
#include <stdio.h>

int raster_write_png(const struct raster *r, struct rect area, const char *path)
{
    if (!r->gray)
        return QUIRE_EINVAL;
    double s = r->dpi / 72.0;
    int x0 = (int)(area.x0 * s), y0 = (int)(area.y0 * s);
    int x1 = (int)(area.x1 * s + 0.999), y1 = (int)(area.y1 * s + 0.999);
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > r->width ? r->width : x1;
    y1 = y1 > r->height ? r->height : y1;
    if (x1 <= x0 || y1 <= y0)
        return QUIRE_EINVAL;
    FILE *f = fopen(path, "wb");
    if (!f)
        return QUIRE_EIO;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        return QUIRE_ENOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return QUIRE_EIO;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)(x1 - x0), (png_uint_32)(y1 - y0), 8, PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = y0; y < y1; y++)
        png_write_row(png, (png_const_bytep)(r->gray + (size_t)y * (size_t)r->width + (size_t)x0));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f) == 0 ? 0 : QUIRE_EIO;
}
