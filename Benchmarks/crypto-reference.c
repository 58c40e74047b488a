/*
 * resolverd crypto benchmark: the C floor for AES-256-GCM over OpenSSL libcrypto.
 *
 * Per message it makes the calls a good wrapper makes: one EVP context per key and direction,
 * keyed once and reused; per message the IV is set, then AAD, update, final and the tag.
 * Nonces come from RAND_bytes in 4 KiB batches (consumed bytes wiped).
 *
 * usage: crypto-reference MESSAGES ROUNDS
 * prints: "c_seal_ops_per_s N" and "c_open_ops_per_s N" (best round of each).
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MESSAGE_BYTES 256
#define AAD_BYTES 60
#define NONCE_BYTES 12
#define TAG_BYTES 16
#define SEALED_BYTES (NONCE_BYTES + MESSAGE_BYTES + TAG_BYTES)
#define BATCH_BYTES 4096
#define OPEN_SET 1024

static unsigned char batch[BATCH_BYTES];
static size_t batch_offset = BATCH_BYTES;

static void die(const char *what) {
    fprintf(stderr, "crypto-reference: %s failed\n", what);
    exit(1);
}

static void next_nonce(unsigned char *out) {
    if (BATCH_BYTES - batch_offset < NONCE_BYTES) {
        if (RAND_bytes(batch, BATCH_BYTES) != 1) die("RAND_bytes");
        batch_offset = 0;
    }
    memcpy(out, batch + batch_offset, NONCE_BYTES);
    OPENSSL_cleanse(batch + batch_offset, NONCE_BYTES);
    batch_offset += NONCE_BYTES;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void seal(EVP_CIPHER_CTX *ctx, const unsigned char *msg, const unsigned char *aad, unsigned char *out) {
    int len = 0;
    next_nonce(out);
    if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, out) != 1) die("EVP_EncryptInit_ex(iv)");
    if (EVP_EncryptUpdate(ctx, NULL, &len, aad, AAD_BYTES) != 1) die("EVP_EncryptUpdate(aad)");
    if (EVP_EncryptUpdate(ctx, out + NONCE_BYTES, &len, msg, MESSAGE_BYTES) != 1) die("EVP_EncryptUpdate");
    if (EVP_EncryptFinal_ex(ctx, out + NONCE_BYTES + len, &len) != 1) die("EVP_EncryptFinal_ex");
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_BYTES, out + NONCE_BYTES + MESSAGE_BYTES) != 1) die("GET_TAG");
}

static int open_one(EVP_CIPHER_CTX *ctx, const unsigned char *in, const unsigned char *aad, unsigned char *out) {
    int len = 0;
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, in) != 1) die("EVP_DecryptInit_ex(iv)");
    if (EVP_DecryptUpdate(ctx, NULL, &len, aad, AAD_BYTES) != 1) die("EVP_DecryptUpdate(aad)");
    if (EVP_DecryptUpdate(ctx, out, &len, in + NONCE_BYTES, MESSAGE_BYTES) != 1) die("EVP_DecryptUpdate");
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_BYTES, (void *)(in + NONCE_BYTES + MESSAGE_BYTES)) != 1)
        die("SET_TAG");
    return EVP_DecryptFinal_ex(ctx, out + len, &len) == 1;
}

int main(int argc, char **argv) {
    long messages = argc > 1 ? atol(argv[1]) : 1000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    unsigned char key[32], msg[MESSAGE_BYTES], aad[AAD_BYTES], out[SEALED_BYTES], plain[MESSAGE_BYTES];
    static unsigned char sealed[OPEN_SET][SEALED_BYTES];
    if (RAND_bytes(key, sizeof key) != 1 || RAND_bytes(msg, sizeof msg) != 1) die("RAND_bytes");
    memset(aad, 'a', sizeof aad);

    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX *dec = EVP_CIPHER_CTX_new();
    if (!cipher || !enc || !dec) die("setup");
    if (EVP_EncryptInit_ex(enc, cipher, NULL, key, NULL) != 1) die("EVP_EncryptInit_ex(key)");
    if (EVP_DecryptInit_ex(dec, cipher, NULL, key, NULL) != 1) die("EVP_DecryptInit_ex(key)");

    for (int i = 0; i < OPEN_SET; i++) seal(enc, msg, aad, sealed[i]);

    double best_seal = 0, best_open = 0;
    unsigned long sink = 0;
    for (int r = 0; r < rounds; r++) {
        double start = now_seconds();
        for (long i = 0; i < messages; i++) {
            seal(enc, msg, aad, out);
            sink += out[NONCE_BYTES];
        }
        double rate = (double)messages / (now_seconds() - start);
        if (rate > best_seal) best_seal = rate;

        start = now_seconds();
        for (long i = 0; i < messages; i++) {
            if (!open_one(dec, sealed[i % OPEN_SET], aad, plain)) die("open: tag");
            sink += plain[0];
        }
        rate = (double)messages / (now_seconds() - start);
        if (rate > best_open) best_open = rate;
    }
    printf("c_seal_ops_per_s %.0f\nc_open_ops_per_s %.0f\n", best_seal, best_open);
    fprintf(stderr, "(checksum %lu)\n", sink);

    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    EVP_CIPHER_free(cipher);
    OPENSSL_cleanse(key, sizeof key);
    return 0;
}
