/* procstat.c: what each process under test costs (bench.h): CPU seconds
 * over the measuring window, from utime + stime in /proc/<pid>/stat, and the
 * peak resident memory (VmHWM in /proc/<pid>/status).
 *
 * VmHWM is a high-water mark since the process started; writing "5" to
 * /proc/<pid>/clear_refs (Linux >= 4.0, same user or root) resets it to the
 * current RSS, so that each run reports its own peak rather than the largest
 * of all runs so far. When the reset is refused the report says so.
 *
 * RSS counts the pages of mapped files too: the shared libraries (gRPC core,
 * abseil, OpenSSL, the MariaDB client) are 11-14 MB of every process's RSS,
 * shared with the other processes. RssAnon (the process's own heap and
 * stacks) is reported beside it, because that is what the process adds. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

int bench_proc_add(bench_proc *p, size_t *n, const char *spec, char *err, size_t errlen) {
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof p[0].name) {
        snprintf(err, errlen, "--proc wants name=pid, got '%s'", spec);
        return -1;
    }
    if (*n >= BENCH_MAX_PROCS) {
        snprintf(err, errlen, "at most %d --proc", BENCH_MAX_PROCS);
        return -1;
    }
    bench_proc *e = &p[(*n)];
    memset(e, 0, sizeof *e);
    memcpy(e->name, spec, (size_t)(eq - spec));
    e->pid = strcmp(eq + 1, "self") == 0 ? 0 : atoi(eq + 1);
    if (e->pid < 0 || (e->pid == 0 && strcmp(eq + 1, "self") != 0 && strcmp(eq + 1, "0") != 0)) {
        snprintf(err, errlen, "--proc %s: bad pid", spec);
        return -1;
    }
    (*n)++;
    return 0;
}

static void proc_path(const bench_proc *p, const char *file, char *out, size_t len) {
    if (p->pid == 0) snprintf(out, len, "/proc/self/%s", file);
    else snprintf(out, len, "/proc/%d/%s", p->pid, file);
}

void bench_proc_reset_peak(bench_proc *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char path[64];
        proc_path(&p[i], "clear_refs", path, sizeof path);
        FILE *f = fopen(path, "w");
        p[i].hwm_reset = f && fputs("5", f) >= 0;
        if (f && fclose(f) != 0) p[i].hwm_reset = 0;
    }
}

/* utime + stime in clock ticks (fields 14 and 15 of /proc/<pid>/stat; the
 * command name in field 2 may hold spaces, so parse after its ')'). */
static uint64_t proc_ticks(const bench_proc *p) {
    char path[64], buf[1024];
    proc_path(p, "stat", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *s = strrchr(buf, ')');
    if (!s) return 0;
    unsigned long long ut = 0, st = 0;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime(14) stime(15) */
    if (sscanf(s + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return 0;
    return ut + st;
}

static void proc_memory(bench_proc *p) {
    char path[64], line[256];
    proc_path(p, "status", path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "VmHWM: %llu kB", &v) == 1) p->hwm_kb = v;
        else if (sscanf(line, "VmRSS: %llu kB", &v) == 1) p->rss_kb = v;
        else if (sscanf(line, "RssAnon: %llu kB", &v) == 1) p->anon_kb = v;
        else if (sscanf(line, "RssFile: %llu kB", &v) == 1) p->file_kb = v;
        else if (sscanf(line, "Threads: %llu", &v) == 1) p->threads = (int)v;
    }
    fclose(f);
}

/* Context switches summed over the live threads (/proc/<pid>/task/<tid>/
 * status): each one is a thread going to sleep or being woken, i.e. a hop
 * between threads, which is where much of an RPC stack's time goes. */
static uint64_t proc_csw(const bench_proc *p) {
    char dir[64];
    proc_path(p, "task", dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d) return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[384], line[256]; /* d_name is at most 255 bytes */
        snprintf(path, sizeof path, "%s/%s/status", dir, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        while (fgets(line, sizeof line, f)) {
            unsigned long long v;
            if (sscanf(line, "voluntary_ctxt_switches: %llu", &v) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %llu", &v) == 1)
                sum += v;
        }
        fclose(f);
    }
    closedir(d);
    return sum;
}

uint64_t bench_proc_csw(const bench_proc *p) {
    return p->csw1 >= p->csw0 ? p->csw1 - p->csw0 : 0;
}

void bench_proc_sample(bench_proc *p, size_t n, int at_end) {
    for (size_t i = 0; i < n; i++) {
        if (at_end) {
            p[i].csw1 = proc_csw(&p[i]);
            p[i].ticks1 = proc_ticks(&p[i]);
            proc_memory(&p[i]);
        } else {
            p[i].csw0 = proc_csw(&p[i]);
            p[i].ticks0 = proc_ticks(&p[i]);
        }
    }
}

double bench_proc_cpu_s(const bench_proc *p) {
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0) hz = 100;
    return p->ticks1 >= p->ticks0 ? (double)(p->ticks1 - p->ticks0) / (double)hz : 0.0;
}
