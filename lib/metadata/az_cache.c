/*
 * az_cache.c - the process-wide cache of metadata answers.
 *
 * One entry per key (source kind + endpoint). An entry is EMPTY, FETCHING
 * (one thread is fetching; others wait on the condition variable and share
 * its result) or READY (a success, kept until its max-age runs out; no
 * max-age: for the life of the process).
 *
 * Failures are not cached: the callers that waited for the failed fetch get
 * its failure, the next caller fetches again. A failing endpoint therefore
 * costs at most one bounded fetch per azr_open/azr_refresh_az, and
 * concurrent first callers still make one request between them.
 *
 * azr_invalidate_az() bumps an epoch: READY entries become EMPTY, and a fetch
 * that was in flight is handed to its waiters but not kept.
 *
 * The optional file cache ([metadata] cache_file) lets short-lived processes
 * share one fetch. It holds the key, the answer, and wall-clock fetch and
 * expiry times, never a token. It is written 0600 through a temporary file
 * and rename(), and read only if it is a regular file owned by us with no
 * group/other permissions, its key matches, it has not expired and it was
 * written after the last azr_invalidate_az() of this process. Any problem
 * with the file just means "no file cache".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../config/decimal.h"
#include "metadata_internal.h"

#define FILE_MAGIC "azroute-az-cache 1"

typedef enum entry_state { ENTRY_EMPTY, ENTRY_FETCHING, ENTRY_READY } entry_state;

typedef struct entry {
    struct entry *next;
    char *key;
    entry_state state;
    uint64_t seq;          /* completed fetches; waiters watch it change */
    uint64_t epoch;        /* cache epoch the current fetch started in */
    uint64_t wait_until_ns;/* waiters give up after this */
    azr_md_answer last;    /* result of the last completed fetch */
    double fetch_ms;
    uint64_t expires_ns;   /* READY: 0 = never, else monotonic expiry */
} entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cache_cond;
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;
static entry *entries;
static uint64_t cache_epoch;
static int64_t invalidated_wall_ns; /* guarded by cache_lock */

static void cond_create(void)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&cache_cond, &a);
    pthread_condattr_destroy(&a);
}

/* fork(): the child must not inherit a held lock or a fetch that no
 * thread of the child will ever finish. Answers already kept stay valid
 * (same host, same AZ). */
static void before_fork(void)
{
    pthread_mutex_lock(&cache_lock);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&cache_lock);
}

static void after_fork_child(void)
{
    for (entry *e = entries; e; e = e->next)
        if (e->state == ENTRY_FETCHING)
            e->state = ENTRY_EMPTY;
    cond_create(); /* waiters of the parent do not exist here */
    pthread_mutex_unlock(&cache_lock);
}

static void cond_init(void)
{
    cond_create();
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

static int64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static entry *find_or_add(const char *key)
{
    for (entry *e = entries; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->key = strdup(key);
    if (!e->key) {
        free(e);
        return NULL;
    }
    e->next = entries;
    entries = e;
    return e;
}

static int64_t expires_in_s(uint64_t expires_ns, uint64_t now)
{
    if (expires_ns == 0)
        return -1;
    if (expires_ns <= now)
        return 0;
    /* Rounded up: a fresh max-age=43200 answer reports 43200. */
    return (int64_t)((expires_ns - now + 999999999u) / 1000000000u);
}

/* ---- file cache ---------------------------------------------------------- */

typedef struct file_entry {
    char value[AZR_AZ_ID_MAX];
    int64_t fetched_wall_ns;
    int64_t expires_wall_s;
    double fetch_ms;
} file_entry;

/* Reads `path` into *fe if it is a trustworthy, matching, fresh entry. */
static int file_read(const char *path, const char *key, int64_t not_before_ns,
                     file_entry *fe)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return 0;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077) != 0 ||
        st.st_size > 4096) {
        close(fd);
        return 0;
    }
    FILE *f = fdopen(fd, "r");
    if (!f) {
        close(fd);
        return 0;
    }
    char line[1200];
    int ok = 0, have = 0;
    if (fgets(line, sizeof line, f) && strcmp(line, FILE_MAGIC "\n") == 0)
        ok = 1;
    while (ok && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            ok = 0;
            break;
        }
        line[--n] = '\0';
        if (strncmp(line, "key ", 4) == 0) {
            if (strcmp(line + 4, key) != 0)
                ok = 0;
            have |= 1;
        } else if (strncmp(line, "value ", 6) == 0) {
            if (n - 6 == 0 || n - 6 >= sizeof fe->value)
                ok = 0;
            else
                memcpy(fe->value, line + 6, n - 6 + 1);
            have |= 2;
        } else if (sscanf(line, "fetched_at_ns %" SCNd64, &fe->fetched_wall_ns)
                   == 1) {
            have |= 4;
        } else if (sscanf(line, "expires_at %" SCNd64, &fe->expires_wall_s)
                   == 1) {
            have |= 8;
        } else if (strncmp(line, "fetch_ms ", 9) == 0) {
            /* Written by file_write below: '.' whatever the locale. */
            if (azr__decimal_parse(line + 9, &fe->fetch_ms) != 0)
                ok = 0;
            have |= 16;
        } else {
            ok = 0;
        }
    }
    fclose(f);
    if (!ok || have != 31)
        return 0;
    if (fe->fetched_wall_ns <= not_before_ns)
        return 0; /* written before the last azr_invalidate_az() */
    if (fe->expires_wall_s <= (int64_t)time(NULL))
        return 0;
    return 1;
}

static void file_write(const char *path, const char *key,
                       const file_entry *fe)
{
    size_t n = strlen(path);
    char *tmp = malloc(n + 8);
    if (!tmp)
        return;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", 8);
    int fd = mkostemp(tmp, O_CLOEXEC); /* creates it 0600 */
    if (fd < 0) {
        free(tmp);
        return;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return;
    }
    /* fetch_ms with three decimals, formatted by hand: printf's "%.3f"
     * would write the locale's decimal point (a ',' under de_DE), which
     * a process in another locale would misread. */
    int64_t us = fe->fetch_ms >= 0 && fe->fetch_ms < 1e12
                     ? (int64_t)(fe->fetch_ms * 1000.0 + 0.5) : 0;
    fprintf(f,
            FILE_MAGIC "\n"
            "key %s\n"
            "value %s\n"
            "fetched_at_ns %" PRId64 "\n"
            "expires_at %" PRId64 "\n"
            "fetch_ms %" PRId64 ".%03d\n",
            key, fe->value, fe->fetched_wall_ns, fe->expires_wall_s,
            us / 1000, (int)(us % 1000));
    int bad = ferror(f);
    if (fclose(f) != 0)
        bad = 1;
    if (bad || rename(tmp, path) != 0)
        unlink(tmp);
    free(tmp);
}

/* ---- the cache ----------------------------------------------------------- */

static void copy_out(const entry *e, uint64_t now, int from_cache,
                     azr_md_cached *out)
{
    out->answer = e->last;
    out->from_cache = from_cache;
    out->fetch_ms = e->fetch_ms;
    out->expires_in_s = e->last.code == AZR_OK ? expires_in_s(e->expires_ns, now)
                                               : -1;
}

/* With cache_lock held: serves *out from `e` while it holds an unexpired
 * answer, or waits for the fetch another thread has in flight and shares
 * its result (or gives up at e->wait_until_ns). Returns 1 when *out is
 * served, the lock then released; 0 when the caller is to fetch, the lock
 * still held and `e` EMPTY. */
static int serve_or_claim(entry *e, azr_md_cached *out)
{
    for (;;) {
        uint64_t now = azr__md_now_ns();
        if (e->state == ENTRY_READY) {
            if (e->expires_ns == 0 || now < e->expires_ns) {
                copy_out(e, now, 1, out);
                pthread_mutex_unlock(&cache_lock);
                return 1;
            }
            e->state = ENTRY_EMPTY; /* expired */
        }
        if (e->state == ENTRY_EMPTY)
            return 0;
        /* FETCHING: wait for that fetch and share its result. */
        uint64_t seq = e->seq;
        struct timespec ts = {
            .tv_sec = (time_t)(e->wait_until_ns / 1000000000u),
            .tv_nsec = (long)(e->wait_until_ns % 1000000000u),
        };
        int rc = 0;
        while (e->seq == seq && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&cache_cond, &cache_lock, &ts);
        if (e->seq != seq) {
            copy_out(e, azr__md_now_ns(), e->last.code == AZR_OK, out);
            pthread_mutex_unlock(&cache_lock);
            return 1;
        }
        pthread_mutex_unlock(&cache_lock);
        azr__md_fail(&out->answer, AZR_E_TIMEOUT,
                     "metadata cache: gave up waiting for another thread's "
                     "fetch");
        return 1;
    }
}

/* The fetch one thread makes for an entry, and what it got. */
typedef struct fetch_job {
    const char *key;
    const char *cache_file;  /* NULL or "": no file cache */
    unsigned timeout_ms;
    azr_md_fetch_fn fetch;
    void *arg;
    uint64_t start;          /* azr__md_now_ns() when the fetch began */
    uint64_t deadline;
    int64_t not_before;      /* file entries written before are stale */

    azr_md_answer ans;
    double fetch_ms;
    int64_t file_expires_s;  /* > 0: the answer came from the file, with
                                this much life left */
} fetch_job;

/* Gets job's answer, without the lock: from the file cache when it holds
 * a fresh one for the key, else from job->fetch (which ends by the
 * deadline), written to the file cache when it succeeded. */
static void obtain(fetch_job *job)
{
    const char *cache_file = job->cache_file;
    azr_md_answer *ans = &job->ans;
    file_entry fe;

    memset(ans, 0, sizeof *ans);
    ans->max_age_s = -1;
    job->file_expires_s = 0;
    memset(&fe, 0, sizeof fe);
    if (cache_file && cache_file[0] &&
        file_read(cache_file, job->key, job->not_before, &fe)) {
        memcpy(ans->value, fe.value, sizeof ans->value);
        ans->code = AZR_OK;
        job->fetch_ms = fe.fetch_ms;
        job->file_expires_s = fe.expires_wall_s - (int64_t)time(NULL);
        if (job->file_expires_s < 1)
            job->file_expires_s = 1;
        return;
    }
    job->fetch(job->arg, job->deadline, job->timeout_ms, ans);
    job->fetch_ms = (double)(azr__md_now_ns() - job->start) / 1e6;
    if (ans->code == AZR_OK && cache_file && cache_file[0]) {
        int64_t keep = ans->max_age_s >= 0 ? ans->max_age_s
                                           : AZR_MD_FILE_CACHE_MAX_S;
        if (keep > 0) {
            memcpy(fe.value, ans->value, sizeof fe.value);
            fe.fetched_wall_ns = wall_ns();
            fe.expires_wall_s = (int64_t)time(NULL) + keep;
            fe.fetch_ms = job->fetch_ms;
            file_write(cache_file, job->key, &fe);
        }
    }
}

/* With cache_lock held: records job's result in `e` (kept only when it
 * is a success and no azr_invalidate_az() happened meanwhile) and serves
 * *out from it. */
static void store(entry *e, const fetch_job *job, azr_md_cached *out)
{
    const azr_md_answer *ans = &job->ans;
    uint64_t now = azr__md_now_ns();

    e->last = *ans;
    e->fetch_ms = job->fetch_ms;
    e->seq++;
    if (ans->code == AZR_OK && e->epoch == cache_epoch) {
        e->state = ENTRY_READY;
        if (job->file_expires_s > 0)
            e->expires_ns = now + (uint64_t)job->file_expires_s * 1000000000u;
        else if (ans->max_age_s >= 0)
            e->expires_ns = now + (uint64_t)ans->max_age_s * 1000000000u;
        else
            e->expires_ns = 0;
    } else {
        e->state = ENTRY_EMPTY;
        e->expires_ns = 0;
    }
    copy_out(e, now, job->file_expires_s > 0, out);
    if (ans->code == AZR_OK && e->state != ENTRY_READY)
        out->expires_in_s = ans->max_age_s >= 0 ? ans->max_age_s : -1;
}

void azr__az_cache_get(const char *key, const char *cache_file,
                       unsigned timeout_ms, azr_md_fetch_fn fetch, void *arg,
                       azr_md_cached *out)
{
    memset(out, 0, sizeof *out);
    out->expires_in_s = -1;
    out->answer.max_age_s = -1;
    pthread_once(&cond_once, cond_init);

    pthread_mutex_lock(&cache_lock);
    entry *e = find_or_add(key);
    if (!e) {
        pthread_mutex_unlock(&cache_lock);
        azr__md_fail(&out->answer, AZR_E_NOMEM, "metadata cache: out of memory");
        return;
    }
    if (serve_or_claim(e, out))
        return;

    /* This thread fetches. */
    fetch_job job = {
        .key = key,
        .cache_file = cache_file,
        .timeout_ms = timeout_ms,
        .fetch = fetch,
        .arg = arg,
        .start = azr__md_now_ns(),
    };
    job.deadline = job.start + (uint64_t)timeout_ms * 1000000u;
    e->state = ENTRY_FETCHING;
    e->epoch = cache_epoch;
    /* The fetch ends by its deadline; the slack covers scheduling. */
    e->wait_until_ns = job.deadline + 2000000000u;
    job.not_before = invalidated_wall_ns;
    pthread_mutex_unlock(&cache_lock);

    obtain(&job);

    pthread_mutex_lock(&cache_lock);
    store(e, &job, out);
    pthread_cond_broadcast(&cache_cond);
    pthread_mutex_unlock(&cache_lock);
}

void azr__az_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    cache_epoch++;
    invalidated_wall_ns = wall_ns();
    for (entry *e = entries; e; e = e->next) {
        if (e->state == ENTRY_READY)
            e->state = ENTRY_EMPTY;
    }
    pthread_mutex_unlock(&cache_lock);
}
