/*
 * locale_embed.c - an embedding program that takes its locale from the
 * environment, as many programs do (setlocale(LC_ALL, "")), and then opens
 * azroute configurations. Run by tests/config_locale.sh under a locale
 * whose decimal point is ',': azroute.ini's syntax must not follow it.
 *
 *   locale_embed CONFIG...
 *
 * Prints "decimal_point D" (the locale's, from localeconv()), then one
 * line per CONFIG, in order:
 *   "CONFIG: ok AZ FETCH_US"  azr_open succeeded; AZ is the caller's AZ ID
 *                             or "-", FETCH_US the fetch time in whole
 *                             microseconds (integers: no decimal point)
 *   "CONFIG: error MESSAGE"   azr_open's one-line message
 * Exit status: 0 when every line was printed, 2 when the locale named by
 * the environment cannot be set (the test must then fail, not pass in
 * the C locale by accident).
 *
 * Uses the public API only and links the shared libazroute, as an
 * embedding program does.
 */
#include <locale.h>
#include <math.h>
#include <stdio.h>

#include <azroute/azroute.h>

int main(int argc, char **argv)
{
    if (setlocale(LC_ALL, "") == NULL) {
        fprintf(stderr, "locale_embed: setlocale(LC_ALL, \"\") failed: the "
                "locale of the environment is not available\n");
        return 2;
    }
    printf("decimal_point %s\n", localeconv()->decimal_point);
    for (int i = 1; i < argc; i++) {
        char err[AZR_ERRBUF_SIZE];
        azr_ctx *ctx = NULL;
        if (azr_open(&ctx, argv[i], err) != AZR_OK) {
            printf("%s: error %s\n", argv[i], err);
            continue;
        }
        azr_az_info info = { .known = 0 };
        if (azr_az_info_get(ctx, &info) != AZR_OK)
            info.known = 0;
        printf("%s: ok %s %lld\n", argv[i], info.known ? info.az_id : "-",
               (long long)llround(info.fetch_ms * 1000.0));
        azr_close(ctx);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
