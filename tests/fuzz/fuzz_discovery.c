/*
 * fuzz_discovery.c - libFuzzer target for what discovery takes from the
 * servers' replies (lib/topology/discover_parse.c): ROLE and INFO server.
 *
 * Input: a RESP stream, read as pairs of replies (ROLE, INFO) given in
 * turn to the servers discovery knows, breadth first, as discover.c asks
 * them: the seed first, then every server an answer named. Whatever the
 * bytes, the list stays within AZR_MAX_NODES, every host is a NUL-ended
 * non-empty string of host characters with a port in 1..65535, every AZ
 * is at most AZR_DISC_AZ_MAX of A-Z a-z 0-9 - _ ., and deciding the group
 * and asking who is a member reads only what exists.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "topology/discover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

static int az_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    azr_reader *rd = azr_reader_new(16, 1 << 20);
    if (rd == NULL)
        return 0;
    azr_discovery d;
    memset(&d, 0, sizeof d);
    d.primary = SIZE_MAX;
    char err[AZR_ERRBUF_SIZE];
    if (azr__discovery_add(&d, "seed.example", 6379, "seed.example") ==
            NULL ||
        azr_reader_feed(rd, data, size) != AZR_OK) {
        azr__discovery_free(&d);
        azr_reader_free(rd);
        return 0;
    }
    for (size_t i = 0; i < d.n_found; i++) {
        azr_reply *role = NULL, *info = NULL;
        if (azr_reader_get_reply(rd, &role) != AZR_OK || role == NULL ||
            azr_reader_get_reply(rd, &info) != AZR_OK || info == NULL) {
            azr_reply_free(role);
            break;
        }
        azr_code rc = azr__discovery_parse(&d, i, role, info, err);
        azr_reply_free(role);
        azr_reply_free(info);
        if (rc != AZR_OK) {
            CHECK(err[0] != '\0' && memchr(err, '\n', strlen(err)) == NULL);
            break;
        }
    }
    CHECK(d.n_found <= AZR_MAX_NODES);
    for (size_t i = 0; i < d.n_found; i++) {
        const azr_found *f = &d.found[i];
        size_t hl = strnlen(f->host, sizeof f->host);
        CHECK(hl > 0 && hl < sizeof f->host);
        CHECK(f->port >= 1 && f->port <= 65535);
        size_t al = strnlen(f->az, sizeof f->az);
        CHECK(al <= AZR_DISC_AZ_MAX);
        for (size_t k = 0; k < al; k++)
            CHECK(az_char((unsigned char)f->az[k]));
        CHECK(f->listed_by == SIZE_MAX || f->listed_by < d.n_found);
    }
    azr__discovery_decide(&d);
    CHECK(d.primary == SIZE_MAX || d.primary < d.n_found);
    for (size_t i = 0; i < d.n_found; i++)
        (void)azr__discovery_member(&d, i);
    azr__discovery_free(&d);
    azr_reader_free(rd);
    return 0;
}
