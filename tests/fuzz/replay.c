/* replay.c -- the main() that replaces libFuzzer's when a fuzz target is
 * linked with the ordinary compiler ($(B)/tests/fuzz-replay/NAME, see the
 * Makefile): it runs LLVMFuzzerTestOneInput once on every file named on the
 * command line, and on every regular file in a directory named there (in
 * name order), so `make check` replays the committed corpora
 * (tests/fuzz/corpus/NAME/) through the real target code.  A finding
 * aborts, as under libFuzzer; otherwise it prints "NAME: N inputs" and
 * exits 0.  Usage: NAME FILE|DIR... */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  uint8_t *data = NULL;
  size_t n = 0, cap = 0;

  if (f == NULL) {
    perror(path);
    return -1;
  }
  for (;;) {
    size_t got;
    if (n == cap) {
      uint8_t *nd = realloc(data, cap ? cap * 2 : 4096);
      if (nd == NULL) {
        fclose(f);
        free(data);
        return -1;
      }
      data = nd;
      cap = cap ? cap * 2 : 4096;
    }
    got = fread(data + n, 1, cap - n, f);
    n += got;
    if (got == 0)
      break;
  }
  fclose(f);
  /* libFuzzer passes a buffer of exactly the input's size. */
  {
    uint8_t *exact = malloc(n ? n : 1);
    if (exact == NULL) {
      free(data);
      return -1;
    }
    if (n)
      memcpy(exact, data, n);
    free(data);
    (void)LLVMFuzzerTestOneInput(exact, n);
    free(exact);
  }
  return 0;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  size_t count = 0;

  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) != 0) {
      perror(argv[i]);
      return 2;
    }
    if (S_ISDIR(st.st_mode)) {
      DIR *d = opendir(argv[i]);
      struct dirent *e;
      char **names = NULL;
      size_t n = 0;
      if (d == NULL) {
        perror(argv[i]);
        return 2;
      }
      while ((e = readdir(d)) != NULL) {
        char **nn;
        char path[4096];
        if (e->d_name[0] == '.')
          continue;
        snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
          continue;
        nn = realloc(names, (n + 1) * sizeof(*names));
        if (nn == NULL || (nn[n] = strdup(path)) == NULL)
          return 2;
        names = nn;
        n++;
      }
      closedir(d);
      if (n > 0)
        qsort(names, n, sizeof(*names), by_name);
      for (size_t j = 0; j < n; j++) {
        if (run_file(names[j]) != 0)
          return 2;
        free(names[j]);
        count++;
      }
      free(names);
    } else {
      if (run_file(argv[i]) != 0)
        return 2;
      count++;
    }
  }
  printf("%s: %zu inputs\n", argv[0], count);
  return 0;
}
