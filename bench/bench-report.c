/* SPDX-License-Identifier: MIT */
/* Turns the rows the benchmarks appended to results.tsv into the one table
 * `make bench` prints, and into results.json, the same numbers for
 * machines.
 *
 *   bench-report RESULTS.tsv RESULTS.json
 *
 * Every row is a subject next to its floor, measured in the same run; the
 * ratio (or, for memory, the difference) is the result, the absolute
 * numbers are there to read it by. Targets are judged in a full run only:
 * a smoke run (BENCH_SMOKE=1) is too short to mean anything but "works".
 * Exit status: 0, or 1 if the input is unreadable; with BENCH_STRICT=1, also
 * 1 if a target was missed.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#define MAX_ROWS 128

struct row {
  char kind[8], bench[128], subject[128], floor_name[128], unit[8], target[32];
  long n;
  double s50, f50, s99, f99;
  int judged, met; /* judged: a target applies and this is a full run */
};

static struct row rows[MAX_ROWS];
static int nrows, smoke;

static double ratio(double a, double b) {
  return b != 0 ? a / b : NAN;
}

/* "p50<=1.15", "p99<=2", "value<=0", "diff<=64" */
static void judge(struct row *r) {
  char what[16];
  double limit, got;
  if (strcmp(r->target, "-") == 0 || sscanf(r->target, "%15[a-z0-9]<=%lf", what, &limit) != 2)
    return;
  if (strcmp(what, "p50") == 0)
    got = ratio(r->s50, r->f50);
  else if (strcmp(what, "p99") == 0)
    got = ratio(r->s99, r->f99);
  else if (strcmp(what, "value") == 0)
    got = r->s50;
  else if (strcmp(what, "diff") == 0)
    got = r->s50 - r->f50;
  else
    return;
  r->judged = !smoke;
  r->met = got <= limit + 1e-9;
}

static int read_rows(const char *path) {
  char line[1024];
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  while (fgets(line, sizeof(line), f) != NULL && nrows < MAX_ROWS) {
    struct row *r = &rows[nrows];
    char *field[11], *tok;
    int nf = 0;
    line[strcspn(line, "\n")] = '\0';
    /* strtok would merge the empty unit column into the next: split by hand. */
    for (tok = line; nf < 11; nf++) {
      field[nf] = tok;
      tok = strchr(tok, '\t');
      if (tok == NULL) {
        nf++;
        break;
      }
      *tok++ = '\0';
    }
    if (nf != 11) {
      fprintf(stderr, "bench-report: %s: bad row: %s\n", path, line);
      fclose(f);
      return -1;
    }
    snprintf(r->kind, sizeof(r->kind), "%s", field[0]);
    snprintf(r->bench, sizeof(r->bench), "%s", field[1]);
    snprintf(r->subject, sizeof(r->subject), "%s", field[2]);
    snprintf(r->floor_name, sizeof(r->floor_name), "%s", field[3]);
    r->n = atol(field[4]);
    snprintf(r->unit, sizeof(r->unit), "%s", field[5]);
    r->s50 = atof(field[6]);
    r->f50 = atof(field[7]);
    r->s99 = atof(field[8]);
    r->f99 = atof(field[9]);
    snprintf(r->target, sizeof(r->target), "%s", field[10]);
    judge(r);
    nrows++;
  }
  fclose(f);
  return 0;
}

static void machine(char *cpu, size_t cpu_size, long *ncpu, struct utsname *u) {
  char line[512];
  FILE *f = fopen("/proc/cpuinfo", "r");
  snprintf(cpu, cpu_size, "unknown CPU");
  while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
    char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
      snprintf(cpu, cpu_size, "%s", colon + 2);
      cpu[strcspn(cpu, "\n")] = '\0';
      break;
    }
  }
  if (f != NULL)
    fclose(f);
  *ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  uname(u);
}

/* A number with its unit, in a width fit for the table. */
static const char *fmt(char *buf, size_t size, double v, const char *unit) {
  if (isnan(v))
    snprintf(buf, size, "-");
  else if (strcmp(unit, "us") == 0)
    snprintf(buf, size, "%.1f us", v);
  else if (strcmp(unit, "ms") == 0)
    snprintf(buf, size, "%.3f ms", v);
  else if (strcmp(unit, "/s") == 0)
    snprintf(buf, size, "%.0f/s", v);
  else if (unit[0] != '\0')
    snprintf(buf, size, "%.0f %s", v, unit);
  else if (v == floor(v))
    snprintf(buf, size, "%.0f", v);
  else
    snprintf(buf, size, "%.1f", v);
  return buf;
}

static const char *fmt_ratio(char *buf, size_t size, double v) {
  if (isnan(v))
    snprintf(buf, size, "-");
  else
    snprintf(buf, size, "%.2f", v);
  return buf;
}

static const char *verdict(const struct row *r) {
  if (strcmp(r->target, "-") == 0)
    return "";
  if (!r->judged)
    return "(smoke: not judged)";
  return r->met ? "met" : "MISSED";
}

static void print_table(void) {
  char cpu[256], a[32], b[32], c[32], d[32], e[32], g[32];
  const char *group = "";
  struct utsname u;
  long ncpu;
  int i;

  machine(cpu, sizeof(cpu), &ncpu, &u);
  printf("\nlibdaemoniker benchmarks (%s run): %ld CPUs, %s, %s %s\n", smoke ? "smoke" : "full",
         ncpu, cpu, u.sysname, u.release);
  printf("Each row: subject vs floor, same run, interleaved in an order shuffled every round\n"
         "(no variant keeps its place or its predecessor from one round to the next);\n"
         "ratio = subject / floor.\n\n");
  printf("%-60s %6s %11s %11s %6s %11s %11s %6s  %s\n", "subject vs floor", "n", "subj p50",
         "floor p50", "ratio", "subj p99", "floor p99", "ratio", "target");
  for (i = 0; i < nrows; i++) {
    const struct row *r = &rows[i];
    char label[160], target[64];
    if (strcmp(r->bench, group) != 0) {
      printf("%s\n", r->bench);
      group = r->bench;
    }
    snprintf(label, sizeof(label), "  %s vs %s", r->subject, r->floor_name);
    snprintf(target, sizeof(target), "%s %s", strcmp(r->target, "-") ? r->target : "", verdict(r));
    if (strcmp(r->kind, "ratio") == 0) {
      printf("%-60s %6ld %11s %11s %6s %11s %11s %6s  %s\n", label, r->n,
             fmt(a, sizeof(a), r->s50, r->unit), fmt(b, sizeof(b), r->f50, r->unit),
             fmt_ratio(c, sizeof(c), ratio(r->s50, r->f50)), fmt(d, sizeof(d), r->s99, r->unit),
             fmt(e, sizeof(e), r->f99, r->unit), fmt_ratio(g, sizeof(g), ratio(r->s99, r->f99)),
             target);
    } else {
      /* One value each. For memory the difference is the result: a ratio
       * of two totals hides what the library adds. */
      char diff[48] = "";
      if (strcmp(r->unit, "KiB") == 0 || strncmp(r->target, "diff", 4) == 0)
        snprintf(diff, sizeof(diff), "difference %s", fmt(d, sizeof(d), r->s50 - r->f50, r->unit));
      printf("%-60s %6ld %11s %11s %6s %23s %6s  %s\n", label, r->n,
             fmt(a, sizeof(a), r->s50, r->unit), fmt(b, sizeof(b), r->f50, r->unit),
             fmt_ratio(c, sizeof(c), ratio(r->s50, r->f50)), diff, "", target);
    }
  }
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      fprintf(f, "\\u%04x", *s);
    else
      fputc(*s, f);
  }
  fputc('"', f);
}

static void json_number(FILE *f, double v) {
  if (isnan(v) || isinf(v))
    fputs("null", f);
  else
    fprintf(f, "%.6g", v);
}

static int write_json(const char *path) {
  char cpu[256], date[64];
  struct utsname u;
  time_t now = time(NULL);
  long ncpu;
  FILE *f = fopen(path, "w");
  int i;

  if (f == NULL) {
    perror(path);
    return -1;
  }
  machine(cpu, sizeof(cpu), &ncpu, &u);
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
  fprintf(f, "{\n  \"mode\": \"%s\",\n  \"date\": \"%s\",\n", smoke ? "smoke" : "full", date);
  fprintf(f, "  \"machine\": {\"nproc\": %ld, \"cpu\": ", ncpu);
  json_string(f, cpu);
  fprintf(f, ", \"kernel\": ");
  json_string(f, u.release);
  fprintf(f, "},\n  \"rows\": [\n");
  for (i = 0; i < nrows; i++) {
    const struct row *r = &rows[i];
    int is_ratio = strcmp(r->kind, "ratio") == 0;
    fprintf(f, "    {\"kind\": \"%s\", \"bench\": ", r->kind);
    json_string(f, r->bench);
    fprintf(f, ", \"subject\": ");
    json_string(f, r->subject);
    fprintf(f, ", \"floor\": ");
    json_string(f, r->floor_name);
    fprintf(f, ", \"n\": %ld, \"unit\": ", r->n);
    json_string(f, r->unit);
    fprintf(f, ",\n     \"%s\": ", is_ratio ? "subject_p50" : "subject");
    json_number(f, r->s50);
    fprintf(f, ", \"%s\": ", is_ratio ? "floor_p50" : "floor_value");
    json_number(f, r->f50);
    fprintf(f, ", \"%s\": ", is_ratio ? "ratio_p50" : "ratio");
    json_number(f, ratio(r->s50, r->f50));
    if (is_ratio) {
      fprintf(f, ", \"subject_p99\": ");
      json_number(f, r->s99);
      fprintf(f, ", \"floor_p99\": ");
      json_number(f, r->f99);
      fprintf(f, ", \"ratio_p99\": ");
      json_number(f, ratio(r->s99, r->f99));
    } else {
      fprintf(f, ", \"diff\": ");
      json_number(f, r->s50 - r->f50);
    }
    fprintf(f, ",\n     \"target\": ");
    if (strcmp(r->target, "-") == 0)
      fputs("null", f);
    else
      json_string(f, r->target);
    fprintf(f, ", \"met\": %s}%s\n", r->judged ? (r->met ? "true" : "false") : "null",
            i + 1 < nrows ? "," : "");
  }
  fprintf(f, "  ]\n}\n");
  return fclose(f) == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
  const char *s = getenv("BENCH_SMOKE"), *strict = getenv("BENCH_STRICT");
  int i, missed = 0;

  if (argc != 3) {
    fprintf(stderr, "usage: bench-report RESULTS.tsv RESULTS.json\n");
    return 2;
  }
  smoke = s != NULL && s[0] != '\0' && strcmp(s, "0") != 0;
  if (read_rows(argv[1]) < 0 || write_json(argv[2]) < 0)
    return 1;
  print_table();
  for (i = 0; i < nrows; i++)
    missed += rows[i].judged && !rows[i].met;
  printf("\n%s; the same as JSON: %s\n",
         smoke ? "smoke run: every benchmark ran and checked itself; no ratio judged"
               : (missed ? "targets missed: see MISSED above" : "every target met"),
         argv[2]);
  return strict != NULL && strcmp(strict, "1") == 0 && missed ? 1 : 0;
}
