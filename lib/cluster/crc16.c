/*
 * crc16.c - key to hash slot, as Redis Cluster computes it: CRC16/XMODEM
 * (polynomial 0x1021, initial value 0, no reflection, no final xor) of the
 * key, or of its hash tag, modulo 16384.
 */
#include <string.h>

#include "cluster.h"

/* The CRC of each byte value, made at compile time from the polynomial so
 * that no table of 256 literals has to be trusted: entry i is the CRC of
 * the single byte i. */
#define AZR_CRC_STEP(c) (((c) & 0x8000u) ? (((c) << 1) ^ 0x1021u) : ((c) << 1))
#define AZR_CRC_BYTE(b)                                                   \
    ((uint16_t)(AZR_CRC_STEP(AZR_CRC_STEP(AZR_CRC_STEP(AZR_CRC_STEP(      \
        AZR_CRC_STEP(AZR_CRC_STEP(AZR_CRC_STEP(AZR_CRC_STEP(              \
            (unsigned)(b) << 8)))))))) & 0xffffu))
#define AZR_CRC_4(b) AZR_CRC_BYTE(b), AZR_CRC_BYTE((b) + 1), \
    AZR_CRC_BYTE((b) + 2), AZR_CRC_BYTE((b) + 3)
#define AZR_CRC_16(b) AZR_CRC_4(b), AZR_CRC_4((b) + 4), AZR_CRC_4((b) + 8), \
    AZR_CRC_4((b) + 12)
#define AZR_CRC_64(b) AZR_CRC_16(b), AZR_CRC_16((b) + 16), \
    AZR_CRC_16((b) + 32), AZR_CRC_16((b) + 48)

static const uint16_t crc_table[256] = {
    AZR_CRC_64(0), AZR_CRC_64(64), AZR_CRC_64(128), AZR_CRC_64(192)
};

uint16_t azr__crc16(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    unsigned crc = 0;
    for (size_t i = 0; i < len; i++)
        crc = ((crc << 8) ^ crc_table[((crc >> 8) ^ p[i]) & 0xffu]) & 0xffffu;
    return (uint16_t)crc;
}

AZR_EXTERN unsigned azr_key_slot(const void *key, size_t key_len)
{
    if (key == NULL)
        return azr__crc16("", 0) & (AZR_SLOT_COUNT - 1);
    const char *k = key;
    const char *open = memchr(k, '{', key_len);
    if (open != NULL) {
        size_t start = (size_t)(open - k) + 1;
        const char *close = memchr(k + start, '}', key_len - start);
        if (close != NULL && close > k + start)
            return azr__crc16(k + start, (size_t)(close - (k + start))) &
                   (AZR_SLOT_COUNT - 1);
    }
    return azr__crc16(k, key_len) & (AZR_SLOT_COUNT - 1);
}
