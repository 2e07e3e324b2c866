/* svg.c - see svg.h. */
#include "svg.h"

#include <math.h>

const char *const svg_palette[7] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"};

double svg_x(const svg_axes *a, double x) { return a->x0 + a->w * (x - a->xmin) / (a->xmax - a->xmin); }
double svg_y(const svg_axes *a, double y) { return a->y0 + a->h - a->h * (y - a->ymin) / (a->ymax - a->ymin); }

double svg_nice_max(double v) {
  double e = pow(10.0, floor(log10(v > 0 ? v : 1e-3))), m = v / e;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10) * e;
}

double svg_nice_min(double v) {
  double e;
  if (v <= 0)
    return v < 0 ? -svg_nice_max(-v) : 0;
  e = pow(10.0, floor(log10(v)));
  return floor(v / e) * e;
}

void svg_text(FILE *f, const char *s) {
  for (; *s; s++)
    switch (*s) {
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '&': fputs("&amp;", f); break;
    case '"': fputs("&quot;", f); break;
    default: fputc(*s, f);
    }
}

void svg_axes_draw(FILE *f, const svg_axes *a, const char *xl, const char *yl, const char *title) {
  fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#444\"/>\n", a->x0,
          a->y0, a->w, a->h);
  for (int i = 0; i <= 5; i++) {
    double vx = a->xmin + (a->xmax - a->xmin) * i / 5, vy = a->ymin + (a->ymax - a->ymin) * i / 5;
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", svg_x(a, vx), a->y0,
            svg_x(a, vx), a->y0 + a->h);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", a->x0, svg_y(a, vy),
            a->x0 + a->w, svg_y(a, vy));
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.3g</text>\n", svg_x(a, vx),
            a->y0 + a->h + 15, vx);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%.3g</text>\n", a->x0 - 5,
            svg_y(a, vy) + 4, vy);
  }
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">", a->x0 + a->w / 2,
          a->y0 + a->h + 32);
  svg_text(f, xl);
  fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 "
             "%.1f %.1f)\">",
          a->x0 - 45, a->y0 + a->h / 2, a->x0 - 45, a->y0 + a->h / 2);
  svg_text(f, yl);
  fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"bold\">",
          a->x0 + a->w / 2, a->y0 - 10);
  svg_text(f, title);
  fprintf(f, "</text>\n");
}

FILE *svg_open(const char *path, int w, int h) {
  FILE *f = fopen(path, "w");
  if (!f)
    return NULL;
  fprintf(f,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
          "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
          w, h, w, h);
  return f;
}

int svg_close(FILE *f) {
  int bad;
  fprintf(f, "</svg>\n");
  bad = ferror(f);
  return fclose(f) != 0 || bad ? EOF : 0;
}

void svg_line(FILE *f, const svg_axes *a, const double *x, const double *y, size_t n, const char *color, int dashed) {
  fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", color,
          dashed ? " stroke-dasharray=\"6 4\"" : "");
  for (size_t i = 0; i < n; i++)
    if (isfinite(y[i]))
      fprintf(f, "%.1f,%.1f ", svg_x(a, x[i]), svg_y(a, y[i]));
  fprintf(f, "\"/>\n");
  for (size_t i = 0; i < n; i++)
    if (isfinite(y[i]))
      fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>\n", svg_x(a, x[i]), svg_y(a, y[i]), color);
}

void svg_legend(FILE *f, double x, double y, int i, const char *color, int dashed, const char *label) {
  fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"%s/>", x,
          y + 20 * i, x + 20, y + 20 * i, color, dashed ? " stroke-dasharray=\"6 4\"" : "");
  fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\">", x + 25, y + 20 * i + 4);
  svg_text(f, label);
  fprintf(f, "</text>\n");
}
