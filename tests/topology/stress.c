/*
 * stress.c - requests from many threads while the topology is refreshed
 * and the configuration reloaded the whole time (tests/topology_stress.sh).
 *
 *   stress CONFIG SECONDS
 *
 * Opens CONFIG and starts 8 threads, each running GET k / SET k v through
 * azr_exec (read, then write, alternately) until told to stop. The main
 * thread meanwhile alternates azr_topology_refresh() and azr_reload() (of
 * the same, unchanged file) until SECONDS have passed, then stops and
 * joins the threads and closes the context. Prints the counts.
 * Exit 0 when every request succeeded or failed with a proper error code
 * (AZR_E_* with a message), every write succeeded, and refresh and reload
 * each returned AZR_OK at least once (reload of the unchanged file must
 * always succeed); 1 otherwise; 2 on usage or open errors.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <azroute/azroute.h>

#define NTHREADS 8

static azr_ctx *ctx;
static atomic_int stop;
static atomic_ulong reads_ok, reads_err, writes_ok, writes_err, bad_code;
static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_msg[AZR_ERRBUF_SIZE + 64];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void note(const char *what, const char *msg)
{
    pthread_mutex_lock(&msg_lock);
    if (first_msg[0] == '\0')
        snprintf(first_msg, sizeof first_msg, "%s: %s", what, msg);
    pthread_mutex_unlock(&msg_lock);
}

static void *worker(void *arg)
{
    unsigned id = (unsigned)(size_t)arg;
    char err[AZR_ERRBUF_SIZE];
    for (unsigned long n = 0; !atomic_load(&stop); n++) {
        int write = n & 1;
        char key[32], val[32];
        snprintf(key, sizeof key, "stress:%u", id);
        snprintf(val, sizeof val, "%lu", n);
        const char *set[] = { "SET", key, val };
        const char *get[] = { "GET", key };
        const azr_command cmd = { .argc = write ? 3 : 2,
                                  .argv = write ? set : get };
        azr_reply *reply = NULL;
        err[0] = '\0';
        azr_code rc = azr_exec(ctx, write ? AZR_INTENT_WRITE
                                          : AZR_INTENT_READ,
                               &cmd, &reply, NULL, err);
        if (rc == AZR_OK && reply != NULL &&
            reply->type != AZR_REPLY_ERROR) {
            atomic_fetch_add(write ? &writes_ok : &reads_ok, 1);
        } else if (rc == AZR_OK) {
            /* An error reply: a failure with a message, counted as such. */
            atomic_fetch_add(write ? &writes_err : &reads_err, 1);
            note(write ? "write error reply" : "read error reply",
                 reply != NULL && reply->str ? reply->str : "(no reply)");
        } else {
            atomic_fetch_add(write ? &writes_err : &reads_err, 1);
            if ((int)rc < 1 || (int)rc > AZR_E_NOT_FOUND || err[0] == '\0') {
                atomic_fetch_add(&bad_code, 1);
                char m[AZR_ERRBUF_SIZE + 32];
                snprintf(m, sizeof m, "code %d, message '%s'", (int)rc, err);
                note("improper error", m);
            } else {
                note(write ? "write failed" : "read failed", err);
            }
        }
        azr_reply_free(reply);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: stress CONFIG SECONDS\n");
        return 2;
    }
    double seconds = atof(argv[2]);
    char err[AZR_ERRBUF_SIZE];
    if (azr_open(&ctx, argv[1], err) != AZR_OK) {
        fprintf(stderr, "stress: %s\n", err);
        return 2;
    }
    pthread_t th[NTHREADS];
    for (size_t i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0) {
            fprintf(stderr, "stress: pthread_create failed\n");
            return 2;
        }
    unsigned long refresh_ok = 0, refresh_err = 0, reload_ok = 0,
                  reload_err = 0;
    char refresh_msg[AZR_ERRBUF_SIZE + 64] = "",
         reload_msg[AZR_ERRBUF_SIZE + 64] = "";
    double start = now_s();
    for (unsigned long n = 0; now_s() - start < seconds; n++) {
        err[0] = '\0';
        if (n & 1) {
            azr_code rc = azr_reload(ctx, err);
            if (rc == AZR_OK)
                reload_ok++;
            else if (reload_err++ == 0)
                snprintf(reload_msg, sizeof reload_msg, "%s (%s)", err,
                         azr_strerror(rc));
        } else {
            azr_code rc = azr_topology_refresh(ctx, err);
            if (rc == AZR_OK)
                refresh_ok++;
            else if (refresh_err++ == 0)
                snprintf(refresh_msg, sizeof refresh_msg, "%s (%s)", err,
                         azr_strerror(rc));
        }
    }
    atomic_store(&stop, 1);
    for (size_t i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    unsigned long long gen = (unsigned long long)azr_topology_generation(ctx);
    azr_close(ctx);

    printf("reads ok %lu err %lu; writes ok %lu err %lu; improper codes %lu\n",
           atomic_load(&reads_ok), atomic_load(&reads_err),
           atomic_load(&writes_ok), atomic_load(&writes_err),
           atomic_load(&bad_code));
    printf("refresh ok %lu err %lu; reload ok %lu err %lu; generation %llu\n",
           refresh_ok, refresh_err, reload_ok, reload_err, gen);
    if (first_msg[0])
        printf("first failure: %s\n", first_msg);
    if (refresh_msg[0])
        printf("first refresh failure: %s\n", refresh_msg);
    if (reload_msg[0])
        printf("first reload failure: %s\n", reload_msg);

    int ok = 1;
    if (atomic_load(&bad_code) > 0) {
        printf("FAIL: requests failed without a proper error code\n");
        ok = 0;
    }
    if (atomic_load(&writes_err) > 0) {
        printf("FAIL: writes failed on a healthy group\n");
        ok = 0;
    }
    if (atomic_load(&writes_ok) == 0 || atomic_load(&reads_ok) == 0) {
        printf("FAIL: no successful reads or writes\n");
        ok = 0;
    }
    if (refresh_ok == 0 || reload_ok == 0) {
        printf("FAIL: refresh or reload never returned AZR_OK\n");
        ok = 0;
    }
    if (reload_err > 0) {
        printf("FAIL: reload of the unchanged file failed\n");
        ok = 0;
    }
    return ok ? 0 : 1;
}
