/* The slow-disk fault of the chaos suite: preloaded into a node (LD_PRELOAD), it delays each
 * fsync and fdatasync by the milliseconds written in the file named by FOOTFALL_CHAOS_SYNC_DELAY_FILE
 * (read again at most every 100 ms, so the suite turns the fault on and off while the node runs),
 * and keeps the count of delayed calls in FOOTFALL_CHAOS_SYNC_COUNT_FILE: the suite's evidence that
 * the node's syncs really were slow. RocksDB makes its write-ahead log durable with fdatasync. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long delay_ms = 0;
static struct timespec read_at = {0, 0};
static unsigned long delayed = 0;

static long current_delay_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    pthread_mutex_lock(&lock);
    long since_ms = (now.tv_sec - read_at.tv_sec) * 1000 + (now.tv_nsec - read_at.tv_nsec) / 1000000;
    if (read_at.tv_sec == 0 || since_ms >= 100) {
        read_at = now;
        const char *path = getenv("FOOTFALL_CHAOS_SYNC_DELAY_FILE");
        int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
        if (fd >= 0) {
            char text[32] = {0};
            ssize_t n = read(fd, text, sizeof text - 1);
            close(fd);
            long value = n > 0 ? strtol(text, NULL, 10) : 0;
            delay_ms = value > 0 && value <= 60000 ? value : 0;
        }
    }
    long delay = delay_ms;
    pthread_mutex_unlock(&lock);
    return delay;
}

static void note_delayed(void) {
    const char *path = getenv("FOOTFALL_CHAOS_SYNC_COUNT_FILE");
    pthread_mutex_lock(&lock);
    delayed++;
    int fd = path ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        char text[32];
        int n = snprintf(text, sizeof text, "%lu\n", delayed);
        if (write(fd, text, (size_t)n) < 0) { /* evidence only: nothing to do */ }
        close(fd);
    }
    pthread_mutex_unlock(&lock);
}

static void slow_down(void) {
    long delay = current_delay_ms();
    if (delay <= 0) return;
    struct timespec pause = {delay / 1000, (delay % 1000) * 1000000L};
    nanosleep(&pause, NULL);
    note_delayed();
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    slow_down();
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    slow_down();
    return real(fd);
}
