/*
 * fuzz_resp.c - libFuzzer target for the RESP reader, the command encoder
 * and the reply free (lib/resp/).
 *
 * Input layout: byte 0 seeds the chunk sizes the stream is fed in (0: all
 * at once), byte 1 picks the limits (small max_depth / max_len sometimes,
 * so that the limit paths are reached), the rest is the RESP stream. Every
 * reply is walked (every byte of every string is read, invariants are
 * checked) and freed; the reader is freed with whatever partial reply it
 * holds. The stream is read twice, at once and in the chunks, and both
 * reads must give the same replies (compared by a hash of every field) and
 * the same error message: the result may not depend on how bytes arrive.
 * Then the first bytes of the stream are cut into up to 4 binary arguments,
 * encoded with azr_format_command and read back: the result must be the
 * same arguments.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <azroute/azroute.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* FNV-1a over the fields of the replies read. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Walks a reply tree (depth is bounded by the reader's max_depth, at most
 * 64 here), checks the invariants callers rely on and hashes every field. */
static uint64_t walk(const azr_reply *r, unsigned depth, uint64_t sum)
{
    int type = (int)r->type;

    CHECK(depth <= 65);
    sum = mix(sum, &type, sizeof type);
    if (r->attribute != NULL) {
        CHECK(r->attribute->type == AZR_REPLY_MAP);
        sum = mix(sum, "|", 1);
        sum = walk(r->attribute, depth + 1, sum);
    }
    switch (r->type) {
    case AZR_REPLY_STATUS: case AZR_REPLY_ERROR: case AZR_REPLY_STRING:
    case AZR_REPLY_DOUBLE: case AZR_REPLY_BIGNUM: case AZR_REPLY_VERBATIM:
    case AZR_REPLY_BLOB_ERROR:
        CHECK(r->str != NULL && r->str[r->len] == '\0');
        sum = mix(sum, &r->len, sizeof r->len);
        sum = mix(sum, r->str, r->len);
        if (r->type == AZR_REPLY_VERBATIM) {
            CHECK(strlen(r->vtype) == 3);
            sum = mix(sum, r->vtype, 3);
        }
        if (r->type == AZR_REPLY_DOUBLE && r->dval == r->dval)
            sum = mix(sum, &r->dval, sizeof r->dval);
        break;
    case AZR_REPLY_ARRAY: case AZR_REPLY_MAP: case AZR_REPLY_SET:
    case AZR_REPLY_PUSH:
        CHECK(r->str == NULL);
        CHECK(r->elements == 0 || r->element != NULL);
        if (r->type == AZR_REPLY_MAP)
            CHECK(r->elements % 2 == 0);
        sum = mix(sum, &r->elements, sizeof r->elements);
        for (size_t i = 0; i < r->elements; i++)
            sum = walk(r->element[i], depth + 1, sum);
        break;
    case AZR_REPLY_BOOL:
        CHECK(r->integer == 0 || r->integer == 1);
        sum = mix(sum, &r->integer, sizeof r->integer);
        break;
    case AZR_REPLY_INTEGER:
        sum = mix(sum, &r->integer, sizeof r->integer);
        break;
    case AZR_REPLY_NIL:
        break;
    default:
        CHECK(0);
    }
    return sum;
}

typedef struct outcome {
    uint64_t hash;      /* of every reply, in order */
    size_t replies;
    char err[AZR_ERRBUF_SIZE];
} outcome;

static void read_stream(const uint8_t *data, size_t size, uint8_t seed,
                        uint8_t limits, outcome *out)
{
    static const unsigned depths[] = {0, 1, 2, 3, 8, 64};
    static const size_t lens[] = {0, 1, 4, 16, 100, 4096};
    azr_reader *rd = azr_reader_new(depths[limits % 6], lens[(limits / 6) % 6]);
    uint32_t rng = seed * 2654435761u + 1;
    size_t off = 0;

    out->hash = 14695981039346656037ull;
    out->replies = 0;
    out->err[0] = '\0';
    CHECK(rd != NULL);
    while (off < size) {
        size_t chunk = size - off;
        azr_code rc;

        if (seed != 0) {
            rng = rng * 1103515245u + 12345u;
            chunk = 1 + (rng >> 16) % (seed < 128 ? 4 : 64);
            if (chunk > size - off)
                chunk = size - off;
        }
        rc = azr_reader_feed(rd, data + off, chunk);
        if (rc == AZR_E_PROTOCOL)
            break;
        CHECK(rc == AZR_OK);
        off += chunk;
        for (;;) {
            azr_reply *rep = NULL;

            rc = azr_reader_get_reply(rd, &rep);
            if (rc != AZR_OK) {
                CHECK(rc == AZR_E_PROTOCOL && rep == NULL);
                CHECK(azr_reader_error(rd)[0] != '\0');
                strcpy(out->err, azr_reader_error(rd));
                break;
            }
            CHECK(azr_reader_error(rd)[0] == '\0');
            if (rep == NULL)
                break;
            out->hash = walk(rep, 0, out->hash);
            out->replies++;
            azr_reply_free(rep);
        }
        if (rc != AZR_OK)
            break;
    }
    azr_reader_free(rd);
}

static void roundtrip(const uint8_t *data, size_t size)
{
    const char *argv[4];
    size_t argvlen[4], argc = 0, off = 0;
    char *out = NULL;
    size_t out_len = 0;
    azr_reader *rd;
    azr_reply *rep = NULL;

    if (size > 256)
        size = 256;
    /* Argument i has the length given by the next byte (mod 64). */
    while (argc < 4 && off < size) {
        size_t len = data[off++] % 64;

        if (len > size - off)
            len = size - off;
        argv[argc] = (const char *)data + off;
        argvlen[argc++] = len;
        off += len;
    }
    if (argc == 0)
        return;
    CHECK(azr_format_command(&out, &out_len, argc, argv, argvlen) == AZR_OK);
    rd = azr_reader_new(0, 0);
    CHECK(rd != NULL);
    CHECK(azr_reader_feed(rd, out, out_len) == AZR_OK);
    CHECK(azr_reader_get_reply(rd, &rep) == AZR_OK && rep != NULL);
    CHECK(rep->type == AZR_REPLY_ARRAY && rep->elements == argc);
    for (size_t i = 0; i < argc; i++) {
        const azr_reply *e = rep->element[i];

        CHECK(e->type == AZR_REPLY_STRING && e->len == argvlen[i]);
        CHECK(argvlen[i] == 0 || memcmp(e->str, argv[i], argvlen[i]) == 0);
    }
    azr_reply_free(rep);
    CHECK(azr_reader_get_reply(rd, &rep) == AZR_OK && rep == NULL);
    azr_reader_free(rd);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    outcome whole, chunked;

    if (size < 2)
        return 0;
    read_stream(data + 2, size - 2, 0, data[1], &whole);
    if (data[0] != 0) {
        read_stream(data + 2, size - 2, data[0], data[1], &chunked);
        CHECK(whole.hash == chunked.hash);
        CHECK(whole.replies == chunked.replies);
        CHECK(strcmp(whole.err, chunked.err) == 0);
    }
    roundtrip(data + 2, size - 2);
    return 0;
}
