/*
 * store_paths.c: the file-system side of a results file, before and around HDF5: the
 * preflight of the output path (store_preflight), the exclusive temporary name
 * (store_tmp_path) and the output lock (store_lock). Rank 0 checks, every rank gets the
 * verdict, so a refusal is the same everywhere. No HDF5 here; it lives with the store
 * module because it guards the store's files.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fedalign/comm.h"
#include "fedalign/rng.h"
#include "store_internal.h"

/* rank 0 only: the checks of store_preflight */
static void preflight_local(const char *path, bool overwrite, Verdict *v) {
    struct stat st;
    v->ok = -1;
    if (!path || !*path) {
        snprintf(v->msg, sizeof v->msg, "empty output file name");
        return;
    }
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(v->msg, sizeof v->msg, "output path '%s' is a directory; give a file name",
                     path);
            return;
        }
        /* a device, FIFO or socket would be replaced by the final rename (--overwrite) */
        if (!S_ISREG(st.st_mode)) {
            snprintf(v->msg, sizeof v->msg,
                     "output path '%s' exists and is not a regular file (a device, FIFO or "
                     "socket); give a file name",
                     path);
            return;
        }
        if (!overwrite) {
            snprintf(v->msg, sizeof v->msg,
                     "output file '%s' exists; use --overwrite or another --output", path);
            return;
        }
    }
    char dir[FA_PATH_LEN];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0'; /* "/file" */
    else *slash = '\0';
    if (stat(dir, &st) != 0) {
        snprintf(v->msg, sizeof v->msg, "directory '%s' of output file '%s' does not exist", dir,
                 path);
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        snprintf(v->msg, sizeof v->msg, "'%s' (directory of output file '%s') is not a directory",
                 dir, path);
        return;
    }
    /* access(W_OK) is not enough (root, read-only mounts, ACLs): create a file there */
    char probe[FA_PATH_LEN + 64];
    snprintf(probe, sizeof probe, "%s/.fedalign_probe_%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(v->msg, sizeof v->msg, "cannot write in directory '%s' of output file '%s': %s",
                 dir, path, strerror(errno));
        return;
    }
    close(fd);
    unlink(probe);
    v->ok = 0;
    v->msg[0] = '\0';
}

/* collective over MPI_COMM_WORLD */
int store_preflight(const char *final_path, bool overwrite, char *err, size_t errlen) {
    static Verdict v; /* 3 KB; static keeps the stack small */
    memset(&v, 0, sizeof v);
    if (comm_rank() == 0) preflight_local(final_path, overwrite, &v);
    comm_bcast_bytes(&v, sizeof v, 0);
    if (v.ok != 0 && err && errlen) snprintf(err, errlen, "%s", v.msg);
    return v.ok;
}

/* rank 0 only: create "<final>.tmp.<pid>.<random>" exclusively into v->msg (the name)
 * or say why not. O_EXCL fails on any existing entry, a symlink included, so nothing
 * planted at the name is followed or overwritten; the random part (clock and a counter)
 * keeps two runs, or two writes of one run, apart. */
static void tmp_create_local(const char *final_path, size_t cap, Verdict *v) {
    static unsigned counter = 0;
    v->ok = -1;
    char name[FA_PATH_LEN + 64];
    for (int tries = 0; tries < 16; tries++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t r = rng_mix64(((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
                               ((uint64_t)++counter << 48) ^ (uint64_t)getpid());
        int k = snprintf(name, sizeof name, "%s.tmp.%ld.%08x", final_path, (long)getpid(),
                         (unsigned)(r & 0xffffffffu));
        if (k < 0 || (size_t)k >= cap || (size_t)k >= sizeof name) {
            snprintf(v->msg, sizeof v->msg, "output path too long for a temporary name: '%s'",
                     final_path);
            return;
        }
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd >= 0) {
            close(fd);
            snprintf(v->msg, sizeof v->msg, "%s", name);
            v->ok = 0;
            return;
        }
        if (errno != EEXIST) {
            snprintf(v->msg, sizeof v->msg, "cannot create temporary file '%s': %s", name,
                     strerror(errno));
            return;
        }
    }
    snprintf(v->msg, sizeof v->msg, "cannot find a free temporary name beside '%s'", final_path);
}

/* collective over MPI_COMM_WORLD */
void store_tmp_path(const char *final_path, char *out, size_t cap) {
    static Verdict v;
    memset(&v, 0, sizeof v);
    if (comm_rank() == 0) tmp_create_local(final_path, cap, &v);
    comm_bcast_bytes(&v, sizeof v, 0);
    if (v.ok != 0) comm_fail_code(FA_EXIT_FAIL, "%s", v.msg);
    snprintf(out, cap, "%s", v.msg);
}

// ----------------------------------------------------------------------------
// the output lock: "<final>.lock" holds "<pid> <host>" of the run writing final

#define FA_MAX_LOCKS 4
static char g_locks[FA_MAX_LOCKS][FA_PATH_LEN + 8]; /* held by this process (rank 0) */

void st_unlock_all(void) {
    for (int k = 0; k < FA_MAX_LOCKS; k++)
        if (g_locks[k][0]) {
            unlink(g_locks[k]);
            g_locks[k][0] = '\0'; /* once: a later run may hold the name by then */
        }
}

/* rank 0 only: one attempt to take `lock`; 1 = taken, 0 = held by someone (v->msg
 * says who), -1 = error (v->msg), 2 = a stale lock of a dead process was removed */
/* Is process pid running? A zombie is not: a killed job's ranks stay zombies until
 * reaped, and in a container whose init does not reap they stay for good. */
static bool process_alive(long pid) {
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return false;
    char path[64], stat[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp) return true; /* no /proc: trust kill() */
    size_t n = fread(stat, 1, sizeof stat - 1, fp);
    fclose(fp);
    stat[n] = '\0';
    const char *rp = strrchr(stat, ')'); /* "pid (comm) S ...": comm may hold spaces */
    return !(rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'));
}

static int lock_try(const char *lock, const char *final_path, const char *host, Verdict *v) {
    int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
        char line[320];
        int n = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), host);
        bool ok = write(fd, line, (size_t)n) == n;
        ok = close(fd) == 0 && ok;
        if (!ok) {
            snprintf(v->msg, sizeof v->msg, "cannot write lock file '%s': %s", lock,
                     strerror(errno));
            unlink(lock);
            return -1;
        }
        return 1;
    }
    if (errno != EEXIST) {
        snprintf(v->msg, sizeof v->msg, "cannot create lock file '%s': %s", lock, strerror(errno));
        return -1;
    }
    long pid = 0;
    char who[256] = "";
    FILE *fp = fopen(lock, "r");
    int got = fp ? fscanf(fp, "%ld %255s", &pid, who) : 0;
    if (fp) fclose(fp);
    /* a process that no longer exists on this host cannot be writing: take over */
    if (got == 2 && pid > 0 && strcmp(who, host) == 0 && !process_alive(pid)) {
        fprintf(stderr,
                "fedalign: note: removing stale lock file '%s' of process %ld, which "
                "is no longer running\n",
                lock, pid);
        return unlink(lock) == 0 || errno == ENOENT ? 2 : 0;
    }
    snprintf(v->msg, sizeof v->msg,
             "output file '%s' is in use by another run (process %ld on host %s, lock file "
             "'%s'); wait for it, use another --output, or remove the lock file if that run "
             "is gone",
             final_path, got >= 1 ? pid : -1L, got == 2 ? who : "?", lock);
    return 0;
}

/* collective over MPI_COMM_WORLD */
int store_lock(const char *final_path, char *err, size_t errlen) {
    static Verdict v;
    memset(&v, 0, sizeof v);
    if (comm_rank() == 0) {
        char lock[FA_PATH_LEN + 8], host[256] = "unknown";
        int k = snprintf(lock, sizeof lock, "%s.lock", final_path);
        if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "unknown");
        int slot = 0;
        while (slot < FA_MAX_LOCKS && g_locks[slot][0]) slot++;
        int got = 0;
        v.ok = -1;
        if (k < 0 || (size_t)k >= sizeof lock || slot == FA_MAX_LOCKS)
            snprintf(v.msg, sizeof v.msg, "cannot lock '%s' (path too long)", final_path);
        else
            for (int tries = 0; tries < 3 && (got = lock_try(lock, final_path, host, &v)) == 2;)
                tries++;
        if (got == 1) {
            static bool registered = false;
            if (!registered) {
                registered = atexit(st_unlock_all) == 0;
                comm_set_fail_hook(st_unlock_all);
            }
            snprintf(g_locks[slot], sizeof g_locks[slot], "%s", lock);
            v.ok = 0;
        }
    }
    comm_bcast_bytes(&v, sizeof v, 0);
    if (v.ok != 0 && err && errlen) snprintf(err, errlen, "%s", v.msg);
    return v.ok;
}
