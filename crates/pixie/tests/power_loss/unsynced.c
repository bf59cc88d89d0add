/*
 * A disk that keeps only what was synced, for crates/pixie/tests/power_loss.rs.
 *
 * Preloaded into pixie (LD_PRELOAD), it wraps fsync and fdatasync: for a regular file
 * under $PIXIE_POWERLOSS_DIR, each sync first copies the file's whole content to
 * "<file>.synced" (written to a temporary name, then renamed). After the process is
 * killed, the test puts each file's ".synced" copy in its place and removes files that
 * never had one: what a power cut leaves when no unsynced write reached the platter,
 * the worst case. Directory entries are not modelled (a synced file is taken to exist).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static pthread_mutex_t copying = PTHREAD_MUTEX_INITIALIZER;

static void keep_synced_copy(int fd) {
    const char *dir = getenv("PIXIE_POWERLOSS_DIR");
    if (!dir || !*dir) return;
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return;
    path[n] = 0;
    size_t len = strlen(dir);
    if (strncmp(path, dir, len) != 0 || path[len] != '/') return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return;
    char tmp[PATH_MAX + 16], synced[PATH_MAX + 16];
    snprintf(synced, sizeof synced, "%s.synced", path);
    snprintf(tmp, sizeof tmp, "%s.synced-tmp", path);
    pthread_mutex_lock(&copying);
    /* A file opened write-only is read through a second, read-only descriptor. */
    int in = (fcntl(fd, F_GETFL) & O_ACCMODE) == O_WRONLY ? open(path, O_RDONLY | O_CLOEXEC) : fd;
    int out = in >= 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (out >= 0) {
        char buf[1 << 16];
        off_t at = 0;
        ssize_t got;
        int ok = 1;
        while ((got = pread(in, buf, sizeof buf, at)) > 0) {
            if (write(out, buf, (size_t)got) != got) { ok = 0; break; }
            at += got;
        }
        close(out);
        if (ok && got == 0) rename(tmp, synced); else unlink(tmp);
    }
    if (in >= 0 && in != fd) close(in);
    pthread_mutex_unlock(&copying);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    keep_synced_copy(fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    keep_synced_copy(fd);
    return real(fd);
}
