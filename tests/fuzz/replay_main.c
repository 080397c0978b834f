/* replay_main.c: runs a fuzz target over a corpus without libFuzzer, so that
 * every input in tests/fuzz/corpus/<name>/ (the seeds, and every input that
 * once crashed a target) is replayed by every ordinary build as the CTest
 * test fuzz_replay_<name> (see CMakeLists.txt).
 *
 *   replay_<name> <dir> [<dir>...]
 *
 * Each regular file of each directory (dot files skipped, in name order) is
 * read and handed to LLVMFuzzerTestOneInput(). The name of the file about to
 * run is printed first, so a crash names its input. Exit status: 0 after
 * running at least one input; 1 when a directory is missing or unreadable,
 * or when there was nothing to run (an empty corpus proves nothing); 2 for a
 * bad command line. A crash or an oracle failure aborts the process. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the whole file; *len gets its size. NULL on error (errno set). The
 * buffer is never NULL for an empty file, as with libFuzzer. */
static uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf) {
        fclose(f);
        errno = ENOMEM;
        return NULL;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    *len = n;
    return buf;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Replays every file of `dir`. Returns the number run, or -1. */
static long replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "replay: cannot open corpus %s: %s\n", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *names);
            if (!nn) break;
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, by_name);
    long ran = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        size_t len = 0;
        uint8_t *buf = read_file(path, &len);
        if (!buf) {
            fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
            ran = -1;
            break;
        }
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        ran++;
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return ran;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s <corpus dir> [<corpus dir>...]\n", argv[0]);
        return 2;
    }
    long total = 0;
    for (int i = 1; i < argc; i++) {
        long r = replay_dir(argv[i]);
        if (r < 0) return 1;
        total += r;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no inputs in %s: an empty corpus proves nothing\n", argv[1]);
        return 1;
    }
    printf("replay: %ld inputs ran without a crash\n", total);
    return 0;
}
