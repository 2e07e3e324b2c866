/* svg.h - the CLI's plots, written as plain SVG (no plotting dependency):
 * axes with a grid and tick labels, lines, legends. Used by the
 * experiment's figures (cmd_experiment.c) and the training curve of
 * `esmm train --curve` (cmd_train.c). */
#ifndef ESMM_CLI_SVG_H
#define ESMM_CLI_SVG_H

#include <stddef.h>
#include <stdio.h>

/* Seven distinguishable colours (matplotlib's first seven). */
extern const char *const svg_palette[7];

typedef struct svg_axes {
  double x0, y0, w, h; /* plot area in pixels */
  double xmax, ymax;   /* data range [xmin, xmax] x [ymin, ymax] */
  double xmin, ymin;   /* (0 when left out of an initialiser) */
} svg_axes;

double svg_x(const svg_axes *a, double x);
double svg_y(const svg_axes *a, double y);
/* A round upper bound for an axis; svg_nice_min a round lower one. */
double svg_nice_max(double v);
double svg_nice_min(double v);
/* Frame, grid, 6 tick labels per axis, axis labels, title. */
void svg_axes_draw(FILE *f, const svg_axes *a, const char *xl, const char *yl, const char *title);
/* A file with a white background of w x h pixels; NULL when it cannot be
 * created. svg_close ends and closes it: 0, or EOF on a write error. */
FILE *svg_open(const char *path, int w, int h);
int svg_close(FILE *f);
/* A line through the points (x[i], y[i]) whose y is finite, with a dot at
 * each; dashed when asked. */
void svg_line(FILE *f, const svg_axes *a, const double *x, const double *y, size_t n, const char *color, int dashed);
/* Legend entry `i` (0, 1, ...) at (x, y) + i rows. */
void svg_legend(FILE *f, double x, double y, int i, const char *color, int dashed, const char *label);
/* Text with the XML specials escaped. */
void svg_text(FILE *f, const char *s);

#endif /* ESMM_CLI_SVG_H */
