/* Session-ticket keys (see tls_keys.h). A ticket is sealed with AES-256-CBC and authenticated
 * with HMAC-SHA256 under the key named in it; OpenSSL calls back here for both. */
#include "common/tls_keys.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/mman.h>

struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

struct key_set {
    struct ticket_key current;
    struct ticket_key previous;
    int has_previous;
};

static struct key_set *keys;

int
tls_keys_init(void)
{
    if (keys)
        return 0;
    void *p = mmap(NULL, sizeof(*keys), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    /* Best effort: a core dump or swap should not hold them, but neither is worth failing. */
    (void)madvise(p, sizeof(*keys), MADV_DONTDUMP);
    (void)mlock(p, sizeof(*keys));
    struct key_set *k = p;
    if (RAND_priv_bytes((unsigned char *)&k->current, sizeof(k->current)) != 1) {
        munmap(p, sizeof(*keys));
        errno = EIO;
        return -1;
    }
    keys = k;
    return 0;
}

static int
mac_init(EVP_MAC_CTX *hctx, const struct ticket_key *k)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_init(hctx, k->hmac, sizeof(k->hmac), params);
}

/* OpenSSL's ticket callback: enc 1 seals with the current key; enc 0 opens with the key the
 * ticket names: 1 (current), 2 (previous: valid, and the client gets a new ticket), 0 (unknown:
 * a full handshake), -1 (failure). */
static int
ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
          EVP_MAC_CTX *hctx, int enc)
{
    (void)ssl;
    if (keys == NULL)
        return enc ? -1 : 0;
    if (enc) {
        const struct ticket_key *k = &keys->current;
        if (RAND_bytes(iv, 16) != 1)
            return -1;
        memcpy(name, k->name, sizeof(k->name));
        if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1 ||
            mac_init(hctx, k) != 1)
            return -1;
        return 1;
    }
    const struct ticket_key *k = NULL;
    if (memcmp(name, keys->current.name, 16) == 0)
        k = &keys->current;
    else if (keys->has_previous && memcmp(name, keys->previous.name, 16) == 0)
        k = &keys->previous;
    if (k == NULL)
        return 0;
    if (mac_init(hctx, k) != 1 ||
        EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv) != 1)
        return -1;
    return k == &keys->current ? 1 : 2;
}

void
tls_keys_use(SSL_CTX *ctx)
{
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
}
