/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests of the auth module: SHA-256/HMAC/MD5 against their RFC vectors, X-Amz-Date, the
 * official AWS SigV4 test suite (canonical request, string to sign and signature of every case,
 * signed and then verified), the IAM ListUsers example of the AWS docs, the strict Authorization
 * parser, each verifier refusal, the key cache and the NULL-destination sizing. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "camstream/auth.h"
#include "testutil.h"

#define AK "AKIDEXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define T0 1440938160ull /* 2015-08-30T12:36:00Z, the suite's signing time */
#define EMPTY CS_SIGV4_EMPTY_SHA256
#define SCOPE_LINE "20150830/us-east-1/service/aws4_request"
/* The tail every plain GET/POST case of the suite shares. */
#define HOST_DATE                                                                                  \
    "host:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" EMPTY
#define H_HOST                                                                                     \
    {                                                                                              \
        "Host", "example.amazonaws.com"                                                            \
    }
#define UNRES "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#define STS_TOKEN                                                                                  \
    "AQoDYXdzEPT//////////"                                                                        \
    "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPf"                     \
    "IeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7" \
    "WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlz"  \
    "m8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="

/* ---------------------------------------------------------------------------------------------- */
/* Helpers                                                                                        */
/* ---------------------------------------------------------------------------------------------- */

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    assert_int_equal(cs_hex_encode(p, n, out, 2 * n + 1, NULL), CS_OK);
}

static void sha256_hex(const void *p, size_t n, char out[CS_SHA256_HEX_SIZE])
{
    uint8_t d[CS_SHA256_SIZE];
    assert_int_equal(cs_sha256(p, n, d), CS_OK);
    hex_of(d, sizeof(d), out);
}

static cs_sigv4_header hdr(const char *name, const char *value)
{
    cs_sigv4_header h = {name, strlen(name), value, strlen(value)};
    return h;
}

struct keyring {
    const char *ak;
    const char *sk;
    const char *token; /* required token, or NULL */
    int calls;
};

static cs_status lookup(void *ctx, const char *ak, size_t ak_len, const char *token,
                        size_t token_len, char *secret, size_t cap, size_t *secret_len)
{
    struct keyring *k = ctx;
    size_t n = strlen(k->sk);

    k->calls++;
    if (ak_len != strlen(k->ak) || memcmp(ak, k->ak, ak_len) != 0) {
        return CS_E_NOTFOUND;
    }
    if (k->token != NULL && (token == NULL || token_len != strlen(k->token) ||
                             memcmp(token, k->token, token_len) != 0)) {
        return CS_E_NOTFOUND;
    }
    assert_true(n <= cap);
    memcpy(secret, k->sk, n);
    *secret_len = n;
    return CS_OK;
}

/* ---------------------------------------------------------------------------------------------- */
/* Hashes                                                                                         */
/* ---------------------------------------------------------------------------------------------- */

static void test_hashes(void **state)
{
    char hex[CS_SHA256_HEX_SIZE];
    uint8_t d[CS_SHA256_SIZE], m[CS_MD5_SIZE], key[131];
    size_t len = 0;
    (void)state;

    /* FIPS 180-2 */
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex(NULL, 0, hex);
    assert_string_equal(hex, EMPTY);
    /* RFC 4231 test case 2 (short key) and 6 (key longer than a block) */
    assert_int_equal(cs_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d), CS_OK);
    hex_of(d, sizeof(d), hex);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    memset(key, 0xaa, sizeof(key));
    assert_int_equal(cs_hmac_sha256(key, sizeof(key),
                                    "Test Using Larger Than Block-Size Key - Hash Key First", 54,
                                    d),
                     CS_OK);
    hex_of(d, sizeof(d), hex);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    /* RFC 1321 */
    assert_int_equal(cs_md5(NULL, 0, m), CS_OK);
    hex_of(m, sizeof(m), hex);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");
    assert_int_equal(cs_md5("abc", 3, m), CS_OK);
    hex_of(m, sizeof(m), hex);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");

    /* Hex: sizing with NULL, exact fit, one short. */
    assert_int_equal(cs_hex_encode(m, 16, NULL, 0, &len), CS_OK);
    assert_int_equal(len, 32);
    assert_int_equal(cs_hex_encode(m, 16, hex, 32, &len), CS_E_NOSPACE);
    assert_int_equal(cs_hex_encode(m, 16, hex, 33, &len), CS_OK);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(cs_sha256(NULL, 1, d), CS_E_INVAL);
    assert_int_equal(cs_md5("a", 1, NULL), CS_E_INVAL);

    assert_true(cs_timing_safe_equal("abcd", "abcd", 4));
    assert_false(cs_timing_safe_equal("abcd", "abce", 4));
    assert_true(cs_timing_safe_equal("x", "y", 0));
}

static void test_amz_date(void **state)
{
    char s[CS_SIGV4_AMZ_DATE_SIZE];
    uint64_t t = 0;
    (void)state;

    assert_int_equal(cs_sigv4_amz_date(T0 * 1000000000ull + 999999999ull, s), CS_OK);
    assert_string_equal(s, "20150830T123600Z");
    assert_int_equal(cs_sigv4_amz_date(0, s), CS_OK);
    assert_string_equal(s, "19700101T000000Z");
    assert_int_equal(cs_sigv4_amz_date(951782400ull * 1000000000ull, s), CS_OK); /* leap day */
    assert_string_equal(s, "20000229T000000Z");
    assert_int_equal(cs_sigv4_parse_amz_date("20150830T123600Z", 16, &t), CS_OK);
    assert_true(t == T0);
    assert_int_equal(cs_sigv4_parse_amz_date("20000229T000000Z", 16, &t), CS_OK);
    assert_true(t == 951782400ull);
    /* Round trip over a span of days, months and years. */
    for (uint64_t x = 0; x < 4102444800ull; x += 86399ull * 37) {
        assert_int_equal(cs_sigv4_amz_date(x * 1000000000ull, s), CS_OK);
        assert_int_equal(cs_sigv4_parse_amz_date(s, 16, &t), CS_OK);
        assert_true(t == x);
    }
    {
        static const char *bad[] = {"20150830T123600",  "20150830T123600Z ", "20150830t123600Z",
                                    "2015083OT123600Z", "20151330T123600Z",  "20150229T000000Z",
                                    "19000229T000000Z", "20150830T243600Z",  "20150830T126000Z",
                                    "20150800T123600Z", "19691231T235959Z",  "+0150830T123600Z"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(cs_sigv4_parse_amz_date(bad[i], strlen(bad[i]), &t), CS_E_MALFORMED);
        }
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* The AWS SigV4 test suite                                                                       */
/* ---------------------------------------------------------------------------------------------- */

/* One case of the official suite (the 2015 "aws-sig-v4-test-suite" as kept in awslabs/aws-c-auth
 * tests/aws-signing-test-suite/v4/<name>/: request.txt, context.json, header-canonical-request.txt,
 * header-string-to-sign.txt and header-signature.txt). Credentials AKIDEXAMPLE / the example
 * secret, 20150830T123600Z, us-east-1, service "service". */
struct vector {
    const char *name;
    const char *method;
    const char *path;  /* request line target before '?' */
    const char *query; /* after '?' */
    const char *headers[5][2];
    const char *body;
    const char *token;     /* context.json credentials.token */
    bool normalize;        /* context.json normalize */
    bool sign_body;        /* context.json sign_body: x-amz-content-sha256 added and signed */
    const char *filter;    /* headers the signer signs, when not all */
    const char *creq;      /* header-canonical-request.txt (NULL: not published for the case) */
    const char *creq_hash; /* last line of header-string-to-sign.txt */
    const char *signature; /* header-signature.txt */
};

static const struct vector vectors[] = {
    {"get-header-key-duplicate",
     "GET",
     "/",
     "",
     {H_HOST, {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    {"get-header-value-multiline",
     "GET",
     "/",
     "",
     {H_HOST, {"My-Header1", "value1\n  value2\n     value3"}},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1 value2 value3\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "e99419459a677bc11de234014be3c4e72c1ea5b454ceb58b613061f5d7a162e8",
     "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"},
    {"get-header-value-order",
     "GET",
     "/",
     "",
     {H_HOST,
      {"My-Header1", "value4"},
      {"My-Header1", "value1"},
      {"My-Header1", "value3"},
      {"My-Header1", "value2"}},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n" EMPTY,
     "31ce73cd3f3d9f66977ad3dd957dc47af14df92fcd8509f59b349e9137c58b86",
     "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"},
    {"get-header-value-trim",
     "GET",
     "/",
     "",
     {H_HOST, {"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\n"
     "x-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n" EMPTY,
     "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-relative-normalized",
     "GET",
     "/example/..",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\n" HOST_DATE,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-relative-relative-normalized",
     "GET",
     "/example1/example2/../..",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\n" HOST_DATE,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-relative-relative-unnormalized",
     "GET",
     "/example1/example2/../..",
     "",
     {H_HOST},
     NULL,
     NULL,
     false,
     false,
     NULL,
     "GET\n/example1/example2/../..\n\n" HOST_DATE,
     "76115030c0f3ff06c20fdff5ceb6d5e0b835a1743e00b94fea7c7f381269437b",
     "dc33e0856fd4baca4d7aa2146c38958283844764f38c74252a333df5e613003b"},
    {"get-relative-unnormalized",
     "GET",
     "/example/..",
     "",
     {H_HOST},
     NULL,
     NULL,
     false,
     false,
     NULL,
     "GET\n/example/..\n\n" HOST_DATE,
     "0511f456aa502b456d135fcb9d749374a55228f9dbeedda1eacf659e05b0615b",
     "eca7ead57bb5aa5c8e28007acd4ff04e1ff9a0ff3b237ec1554a184887ff9282"},
    {"get-slash-dot-slash-normalized",
     "GET",
     "/./",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\n" HOST_DATE,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-slash-dot-slash-unnormalized",
     "GET",
     "/./",
     "",
     {H_HOST},
     NULL,
     NULL,
     false,
     false,
     NULL,
     "GET\n/./\n\n" HOST_DATE,
     "d67825e2268bd77a97c7688b8d72c31a3c1855b309808505ba0a9747d2465aa7",
     "68714168e6557f8f2de0ef956fc24dc2593a4bd2961f8df51898d8a134695145"},
    {"get-slash-normalized",
     "GET",
     "//",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\n" HOST_DATE,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-slash-pointless-dot-normalized",
     "GET",
     "/./example",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/example\n\n" HOST_DATE,
     "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
     "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"},
    {"get-slash-pointless-dot-unnormalized",
     "GET",
     "/./example",
     "",
     {H_HOST},
     NULL,
     NULL,
     false,
     false,
     NULL,
     "GET\n/./example\n\n" HOST_DATE,
     "73895e0e829507e28e39fd24669aedc2434a8e179e547e3c075b42921f952cdb",
     "beb03f223f7deae4146464f06e29eebbee9c8afbe15c290cf07aa8b119e14cff"},
    {"get-slash-unnormalized",
     "GET",
     "//",
     "",
     {H_HOST},
     NULL,
     NULL,
     false,
     false,
     NULL,
     "GET\n//\n\n" HOST_DATE,
     "80cb39203d058af815de2b79250ff56e1b73eb9b4718c86556cdc6f150c5d209",
     "c88bcd3d312d75078c0cd961d6deae3f4c754924b01669efcfcb439fd5e5b76e"},
    {"get-slashes-normalized",
     "GET",
     "//example//",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/example/\n\n" HOST_DATE,
     "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
    {"get-slashes-unnormalized",
     "GET",
     "//example//",
     "",
     {H_HOST},
     NULL,
     NULL,
     false,
     false,
     NULL,
     "GET\n//example//\n\n" HOST_DATE,
     "528ec3105ee1f34ab014bb0a1a45da0ed2742a4fea3555149e5b4d5d201eb240",
     "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5"},
    {"get-space-normalized",
     "GET",
     "/example space/",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/example%20space/\n\n" HOST_DATE,
     "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-space-unnormalized",
     "GET",
     "/example space/",
     "",
     {H_HOST},
     NULL,
     NULL,
     false,
     false,
     NULL,
     "GET\n/example%20space/\n\n" HOST_DATE,
     "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-unreserved",
     "GET",
     "/" UNRES,
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/" UNRES "\n\n" HOST_DATE,
     "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
     "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"},
    {"get-utf8",
     "GET",
     "/\xe1\x88\xb4",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/%E1%88%B4\n\n" HOST_DATE,
     "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-vanilla",
     "GET",
     "/",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n\n" HOST_DATE,
     "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-empty-query-key",
     "GET",
     "/",
     "Param1=value1",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\nParam1=value1\n" HOST_DATE,
     "1e24db194ed7d0eec2de28d7369675a243488e08526e8c1c73571282f7c517ab",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-order-encoded",
     "GET",
     "/",
     "Param-3=Value3&Param=Value2&%E1%88%B4=Value1",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n%E1%88%B4=Value1&Param=Value2&Param-3=Value3\n" HOST_DATE,
     "868294f5c38bd141c4972a373a76654f1418a8e4fc18b2e7903ae45e8ae0ec71",
     "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     "Param2=value2&Param1=value1",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\nParam1=value1&Param2=value2\n" HOST_DATE,
     "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-query-unreserved",
     "GET",
     "/",
     UNRES "=" UNRES,
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n" UNRES "=" UNRES "\n" HOST_DATE,
     "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-vanilla-utf8-query",
     "GET",
     "/",
     "\xe1\x88\xb4=bar",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "GET\n/\n%E1%88%B4=bar\n" HOST_DATE,
     "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
     "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"},
    {"get-vanilla-with-session-token",
     "GET",
     "/",
     "",
     {H_HOST},
     NULL,
     "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
     true,
     false,
     NULL,
     "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
     "x-amz-security-token:6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267\n\n"
     "host;x-amz-date;x-amz-security-token\n" EMPTY,
     "067b36aa60031588cea4a4cde1f21215227a047690c72247f1d70b32fbbfad2b",
     "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
    {"post-header-key-case",
     "POST",
     "/",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "POST\n/\n\n" HOST_DATE,
     "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-header-key-sort",
     "POST",
     "/",
     "",
     {H_HOST, {"My-Header1", "value1"}},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\n"
     "host;my-header1;x-amz-date\n" EMPTY,
     "9368318c2967cf6de74404b30c65a91e8f6253e0a8659d6d5319f1a812f87d65",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
    {"post-header-value-case",
     "POST",
     "/",
     "",
     {H_HOST, {"My-Header1", "VALUE1"}},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\n"
     "host;my-header1;x-amz-date\n" EMPTY,
     "d51ced243e649e3de6ef63afbbdcbca03131a21a7103a1583706a64618606a93",
     "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
    {"post-sts-header-before",
     "POST",
     "/",
     "",
     {H_HOST},
     NULL,
     STS_TOKEN,
     true,
     false,
     NULL,
     "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n"
     "x-amz-security-token:" STS_TOKEN "\n\nhost;x-amz-date;x-amz-security-token\n" EMPTY,
     "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
     "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"},
    {"post-vanilla",
     "POST",
     "/",
     "",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "POST\n/\n\n" HOST_DATE,
     "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
     "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
    {"post-vanilla-empty-query-value",
     "POST",
     "/",
     "Param1=value1",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "POST\n/\nParam1=value1\n" HOST_DATE,
     "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-vanilla-query",
     "POST",
     "/",
     "Param1=value1",
     {H_HOST},
     NULL,
     NULL,
     true,
     false,
     NULL,
     "POST\n/\nParam1=value1\n" HOST_DATE,
     "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
     "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
    {"post-x-www-form-urlencoded",
     "POST",
     "/",
     "",
     {{"Content-Type", "application/x-www-form-urlencoded"}, H_HOST, {"Content-Length", "13"}},
     "Param1=value1",
     NULL,
     true,
     true,
     NULL,
     "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded\n"
     "host:example.amazonaws.com\n"
     "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
     "x-amz-date:20150830T123600Z\n\n"
     "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "b1edd1d03544c25390e32085d55b57acc9a3961bb59415ff86c45c3d89d16cfb",
     "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b"},
    {"post-x-www-form-urlencoded-parameters",
     "POST",
     "/",
     "",
     {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
      H_HOST,
      {"Content-Length", "13"}},
     "Param1=value1",
     NULL,
     true,
     true,
     NULL,
     "POST\n/\n\ncontent-length:13\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\n"
     "host:example.amazonaws.com\n"
     "x-amz-content-sha256:9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e\n"
     "x-amz-date:20150830T123600Z\n\n"
     "content-length;content-type;host;x-amz-content-sha256;x-amz-date\n"
     "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
     "a89f1a5b53e37702ee6363ce1da3ce8f54386f3c8f352ae652153c2982a0bc4d",
     "328d1b9eaadca9f5818ef05e8392801e091653bafec24fcab71e7344e7f51422"},
    /* The 2015 suite's own post-x-www-form-urlencoded (post-x-www-form-urlencoded.authz): the body
     * is hashed but only content-type, host and x-amz-date are signed. */
    {"post-x-www-form-urlencoded (2015 .authz)",
     "POST",
     "/",
     "",
     {{"Content-Type", "application/x-www-form-urlencoded"}, H_HOST, {"Content-Length", "13"}},
     "Param1=value1",
     NULL,
     true,
     false,
     "content-type;host",
     NULL,
     NULL,
     "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
};

static size_t vector_headers(const struct vector *v, cs_sigv4_header *out)
{
    size_t n = 0;
    while (n < 5 && v->headers[n][0] != NULL) {
        out[n] = hdr(v->headers[n][0], v->headers[n][1]);
        n++;
    }
    return n;
}

static cs_sigv4_request vector_request(const struct vector *v, cs_sigv4_header *hs, size_t n)
{
    cs_sigv4_request r;
    memset(&r, 0, sizeof(r));
    r.method = v->method;
    r.method_len = strlen(v->method);
    r.path = v->path;
    r.path_len = strlen(v->path);
    r.query = v->query;
    r.query_len = strlen(v->query);
    r.headers = hs;
    r.header_count = n;
    r.body = v->body;
    r.body_len = v->body != NULL ? strlen(v->body) : 0;
    return r;
}

static void test_suite_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *v = &vectors[i];
        cs_sigv4_header hs[12];
        cs_sigv4_sign_config cfg;
        cs_sigv4_verify_config vc;
        cs_sigv4_verdict verdict;
        cs_sigv4_signature sig;
        cs_manual_clock mc;
        struct keyring kr = {AK, SK, v->token, 0};
        char auth[1024], expect[1024], creq[2048], sts[512], hexh[CS_SHA256_HEX_SIZE];
        const char *list, *list_end;
        size_t n = vector_headers(v, hs), len = 0, auth_len = 0;
        cs_sigv4_request req = vector_request(v, hs, n);

        print_message("vector %s\n", v->name);
        cs_manual_clock_init(&mc, 0, T0 * 1000000000ull);
        cs_sigv4_sign_config_init(&cfg);
        cfg.region = "us-east-1";
        cfg.service = "service";
        cfg.access_key = AK;
        cfg.secret_key = SK;
        cfg.session_token = v->token;
        cfg.normalize_path = v->normalize;
        cfg.add_content_sha256 = v->sign_body;
        cfg.signed_headers = v->filter;
        cfg.clock = &mc.clock;

        /* Sign: the Authorization value is the suite's, byte for byte. */
        assert_int_equal(cs_sigv4_sign(&cfg, &req, NULL, 0, &auth_len, NULL), CS_OK);
        assert_int_equal(cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), &len, &sig), CS_OK);
        assert_int_equal(len, auth_len);
        assert_int_equal(strlen(auth), len);
        assert_string_equal(sig.amz_date, "20150830T123600Z");
        if (v->creq != NULL) {
            list_end = strrchr(v->creq, '\n');
            list = list_end - 1;
            while (*list != '\n') {
                list--;
            }
            list++;
        } else {
            list = "content-type;host;x-amz-date";
            list_end = list + strlen(list);
        }
        snprintf(expect, sizeof(expect),
                 "AWS4-HMAC-SHA256 Credential=" AK "/" SCOPE_LINE
                 ", SignedHeaders=%.*s, Signature=%s",
                 (int)(list_end - list), list, v->signature);
        assert_string_equal(auth, expect);

        /* Task 1 and 2 separately: the published canonical request and string to sign. */
        hs[n++] = hdr("X-Amz-Date", sig.amz_date);
        if (v->token != NULL) {
            hs[n++] = hdr("X-Amz-Security-Token", v->token);
        }
        if (v->sign_body) {
            hs[n++] = hdr("X-Amz-Content-Sha256", sig.payload_hash);
        }
        req.header_count = n;
        if (v->creq != NULL) {
            assert_int_equal(cs_sigv4_canonical_request(&req, list, (size_t)(list_end - list),
                                                        v->normalize, NULL, 0, &len),
                             CS_OK);
            assert_int_equal(len, strlen(v->creq));
            assert_int_equal(cs_sigv4_canonical_request(&req, list, (size_t)(list_end - list),
                                                        v->normalize, creq, len - 1, &len),
                             CS_E_NOSPACE);
            assert_int_equal(cs_sigv4_canonical_request(&req, list, (size_t)(list_end - list),
                                                        v->normalize, creq, sizeof(creq), &len),
                             CS_OK);
            creq[len] = '\0';
            assert_string_equal(creq, v->creq);
            sha256_hex(creq, len, hexh);
            assert_string_equal(hexh, v->creq_hash);
            assert_int_equal(cs_sigv4_string_to_sign(sig.amz_date, "us-east-1", "service", hexh,
                                                     sts, sizeof(sts), &len),
                             CS_OK);
            sts[len] = '\0';
            snprintf(expect, sizeof(expect),
                     "AWS4-HMAC-SHA256\n20150830T123600Z\n" SCOPE_LINE "\n%s", v->creq_hash);
            assert_string_equal(sts, expect);
        }

        /* Verify the signed request as a server receives it. */
        hs[n++] = hdr("Authorization", auth);
        req.header_count = n;
        cs_sigv4_verify_config_init(&vc);
        vc.service = "service";
        vc.region = "us-east-1";
        vc.lookup = lookup;
        vc.lookup_ctx = &kr;
        vc.normalize_path = v->normalize;
        vc.clock = &mc.clock;
        assert_int_equal(cs_sigv4_verify(&vc, &req, &verdict), CS_OK);
        assert_int_equal(verdict.error, CS_SIGV4_ERR_NONE);
        assert_string_equal(verdict.access_key, AK);
        assert_string_equal(verdict.message, "");

        /* The wrong secret must not verify. */
        kr.sk = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
        assert_int_equal(cs_sigv4_verify(&vc, &req, &verdict), CS_E_AUTH);
        assert_int_equal(verdict.error, CS_SIGV4_ERR_SIGNATURE);
        assert_string_equal(verdict.error_type, "InvalidSignatureException");
    }
}

/* The IAM ListUsers example of the AWS General Reference ("Examples of the complete Signature
 * Version 4 signing process"): canonical request hash f536975d..., kSigning c4afb1cc...,
 * signature 5d672d79.... */
static void test_iam_example(void **state)
{
    cs_sigv4_header hs[] = {
        hdr("Host", "iam.amazonaws.com"),
        hdr("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")};
    cs_sigv4_request req;
    cs_sigv4_sign_config cfg;
    cs_sigv4_key_cache cache;
    cs_manual_clock mc;
    char auth[512], hexk[CS_SHA256_HEX_SIZE];
    (void)state;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.method_len = 3;
    req.path = "/";
    req.path_len = 1;
    req.query = "Action=ListUsers&Version=2010-05-08";
    req.query_len = strlen(req.query);
    req.headers = hs;
    req.header_count = 2;
    cs_manual_clock_init(&mc, 0, T0 * 1000000000ull);
    memset(&cache, 0, sizeof(cache));
    cs_sigv4_sign_config_init(&cfg);
    cfg.region = "us-east-1";
    cfg.service = "iam";
    cfg.access_key = AK;
    cfg.secret_key = SK;
    cfg.clock = &mc.clock;
    cfg.cache = &cache;
    assert_int_equal(cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, NULL), CS_OK);
    assert_string_equal(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                              "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                              "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a"
                              "6f2b5d7");
    assert_true(cache.valid);
    hex_of(cache.key, sizeof(cache.key), hexk);
    assert_string_equal(hexk, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
    /* From the cache: the same answer. */
    assert_int_equal(cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, NULL), CS_OK);
    assert_non_null(strstr(auth, "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400"));
    cs_sigv4_key_cache_clear(&cache);
    assert_false(cache.valid);
}

/* ---------------------------------------------------------------------------------------------- */
/* Key cache and sizing                                                                           */
/* ---------------------------------------------------------------------------------------------- */

static void test_key_cache_and_sizing(void **state)
{
    cs_sigv4_header hs[] = {hdr("host", "example.amazonaws.com")};
    cs_sigv4_request req;
    cs_sigv4_sign_config cfg;
    cs_sigv4_key_cache cache;
    cs_manual_clock mc;
    char a1[512], a2[512], a3[512];
    size_t len = 0;
    (void)state;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.method_len = 3;
    req.headers = hs;
    req.header_count = 1;
    memset(&cache, 0, sizeof(cache));
    cs_manual_clock_init(&mc, 0, T0 * 1000000000ull);
    cs_sigv4_sign_config_init(&cfg);
    cfg.region = "us-east-1";
    cfg.service = "service";
    cfg.access_key = AK;
    cfg.secret_key = SK;
    cfg.clock = &mc.clock;
    cfg.cache = &cache;
    assert_int_equal(cs_sigv4_sign(&cfg, &req, a1, sizeof(a1), &len, NULL), CS_OK);
    /* An empty path is "/": get-vanilla's signature. */
    assert_non_null(strstr(a1, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"));
    /* Another secret with a warm cache must not reuse the old key. */
    cfg.secret_key = "another-secret";
    assert_int_equal(cs_sigv4_sign(&cfg, &req, a2, sizeof(a2), NULL, NULL), CS_OK);
    assert_string_not_equal(a1, a2);
    cfg.cache = NULL;
    assert_int_equal(cs_sigv4_sign(&cfg, &req, a3, sizeof(a3), NULL, NULL), CS_OK);
    assert_string_equal(a2, a3);
    /* The next day: a new key. */
    cfg.cache = &cache;
    cfg.secret_key = SK;
    cs_manual_clock_advance(&mc, 86400ull * 1000000000ull);
    assert_int_equal(cs_sigv4_sign(&cfg, &req, a2, sizeof(a2), NULL, NULL), CS_OK);
    assert_string_equal(cache.date, "20150831");
    assert_non_null(strstr(a2, "/20150831/"));

    /* Sizing: exact fit works, one byte less does not, NULL measures. */
    assert_int_equal(cs_sigv4_sign(&cfg, &req, NULL, 0, &len, NULL), CS_OK);
    assert_int_equal(cs_sigv4_sign(&cfg, &req, a3, len + 1, NULL, NULL), CS_OK);
    assert_int_equal(strlen(a3), len);
    assert_int_equal(cs_sigv4_sign(&cfg, &req, a3, len, NULL, NULL), CS_E_NOSPACE);
    /* Bad arguments. */
    cfg.region = NULL;
    assert_int_equal(cs_sigv4_sign(&cfg, &req, a3, sizeof(a3), NULL, NULL), CS_E_INVAL);
}

/* ---------------------------------------------------------------------------------------------- */
/* Authorization parser                                                                           */
/* ---------------------------------------------------------------------------------------------- */

#define GOOD_SIG "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
#define GOOD_CRED "Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request"
#define GOOD_SH "SignedHeaders=content-type;host;x-amz-date"

static void test_parse_authorization(void **state)
{
    static const char *good[] = {
        "AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=" GOOD_SIG,
        "AWS4-HMAC-SHA256 " GOOD_CRED "," GOOD_SH ",Signature=" GOOD_SIG,
        "AWS4-HMAC-SHA256 Signature=" GOOD_SIG ", " GOOD_SH ", " GOOD_CRED,
        "  AWS4-HMAC-SHA256   " GOOD_CRED " , " GOOD_SH " ,  Signature=" GOOD_SIG "  ",
    };
    static const struct {
        const char *value;
        cs_status st;
    } bad[] = {
        {"", CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256", CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 ", CS_E_MALFORMED},
        {"AWS AKIDEXAMPLE:abc", CS_E_UNSUPPORTED},
        {"AWS4-HMAC-SHA2566 " GOOD_CRED, CS_E_UNSUPPORTED},
        {"AWS4-ECDSA-P256-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=" GOOD_SIG,
         CS_E_UNSUPPORTED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH, CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", Signature=" GOOD_SIG, CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_SH ", Signature=" GOOD_SIG, CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=" GOOD_SIG ",", CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_CRED ", " GOOD_SH ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED " " GOOD_SH ", Signature=" GOOD_SIG, CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=" GOOD_SIG ", Extra=1",
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request/x, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/iam/aws4_request, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=/20150830/us-east-1/iam/aws4_request, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//iam/aws4_request, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/US-EAST-1/iam/aws4_request, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws3_request, " GOOD_SH
         ", Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=, Signature=" GOOD_SIG, CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;;x-amz-date, Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=host;, Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=Host;x-amz-date, Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", SignedHeaders=ho:st, Signature=" GOOD_SIG,
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=" GOOD_SIG "0", CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH
         ", Signature=5D672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
         CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature=", CS_E_MALFORMED},
        {"AWS4-HMAC-SHA256 " GOOD_CRED ", " GOOD_SH ", Signature", CS_E_MALFORMED},
    };
    cs_sigv4_authorization a;
    const char *why;
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        why = NULL;
        assert_int_equal(cs_sigv4_parse_authorization(good[i], strlen(good[i]), &a, &why), CS_OK);
        assert_int_equal(a.access_key_len, 11);
        assert_memory_equal(a.access_key, "AKIDEXAMPLE", 11);
        assert_memory_equal(a.date, "20150830", 8);
        assert_int_equal(a.region_len, 9);
        assert_memory_equal(a.region, "us-east-1", 9);
        assert_int_equal(a.service_len, 3);
        assert_memory_equal(a.service, "iam", 3);
        assert_int_equal(a.signed_headers_len, 28);
        assert_memory_equal(a.signed_headers, "content-type;host;x-amz-date", 28);
        assert_int_equal(a.signature[0], 0x5d);
        assert_int_equal(a.signature[31], 0xd7);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        print_message("bad %zu: %s\n", i, bad[i].value);
        assert_int_equal(cs_sigv4_parse_authorization(bad[i].value, strlen(bad[i].value), &a, &why),
                         bad[i].st);
        assert_non_null(why);
    }
    /* Not NUL-terminated: the parser stops at len. */
    {
        const char *v = good[0];
        size_t n = strlen(v);
        char *copy = malloc(n);
        assert_non_null(copy);
        memcpy(copy, v, n);
        assert_int_equal(cs_sigv4_parse_authorization(copy, n, &a, NULL), CS_OK);
        assert_int_equal(cs_sigv4_parse_authorization(copy, n - 1, &a, NULL), CS_E_MALFORMED);
        free(copy);
    }
}

/* ---------------------------------------------------------------------------------------------- */
/* Verifier refusals                                                                              */
/* ---------------------------------------------------------------------------------------------- */

struct signed_req {
    cs_sigv4_header hs[16];
    size_t n;
    cs_sigv4_request req;
    char auth[1024];
    cs_sigv4_signature sig;
};

/* A kinesis JSON call as the JS v3 SDK makes it over HTTP/2: :authority and
 * x-amz-content-sha256 signed. */
static void sign_js_style(struct signed_req *s, cs_manual_clock *mc, const char *body)
{
    cs_sigv4_sign_config cfg;

    memset(s, 0, sizeof(*s));
    s->hs[s->n++] = hdr(":authority", "127.0.0.1:4567");
    s->hs[s->n++] = hdr("content-type", "application/x-amz-json-1.1");
    s->hs[s->n++] = hdr("x-amz-target", "Kinesis_20131202.ListStreams");
    s->req.method = "POST";
    s->req.method_len = 4;
    s->req.path = "/";
    s->req.path_len = 1;
    s->req.headers = s->hs;
    s->req.header_count = s->n;
    s->req.body = body;
    s->req.body_len = strlen(body);
    cs_sigv4_sign_config_init(&cfg);
    cfg.region = "us-west-2";
    cfg.service = "kinesis";
    cfg.access_key = AK;
    cfg.secret_key = SK;
    cfg.add_content_sha256 = true;
    cfg.clock = &mc->clock;
    assert_int_equal(cs_sigv4_sign(&cfg, &s->req, s->auth, sizeof(s->auth), NULL, &s->sig), CS_OK);
    assert_non_null(strstr(s->auth, "SignedHeaders=:authority;content-type;x-amz-content-sha256;"
                                    "x-amz-date;x-amz-target,"));
    s->hs[s->n++] = hdr("x-amz-date", s->sig.amz_date);
    s->hs[s->n++] = hdr("x-amz-content-sha256", s->sig.payload_hash);
    s->hs[s->n++] = hdr("authorization", s->auth);
    s->req.header_count = s->n;
}

static void test_verify_refusals(void **state)
{
    struct signed_req s;
    cs_manual_clock mc;
    cs_sigv4_verify_config vc;
    cs_sigv4_verdict v;
    struct keyring kr = {AK, SK, NULL, 0};
    const char *body = "{}";
    (void)state;

    cs_manual_clock_init(&mc, 0, T0 * 1000000000ull);
    sign_js_style(&s, &mc, body);
    cs_sigv4_verify_config_init(&vc);
    vc.service = "kinesis";
    vc.lookup = lookup;
    vc.lookup_ctx = &kr;
    vc.clock = &mc.clock;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);

    /* A gateway turned :authority into Host: still the same request. */
    s.hs[0] = hdr("Host", "127.0.0.1:4567");
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);
    s.hs[0] = hdr("Host", "127.0.0.1:4568");
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SIGNATURE);
    s.hs[0] = hdr(":authority", "127.0.0.1:4567");

    /* Region pinned. */
    vc.region = "us-east-1";
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_REGION);
    vc.region = "us-west-2";
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);

    /* Wrong service. */
    vc.service = "kinesisvideo";
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SERVICE);
    assert_string_equal(v.error_type, "InvalidSignatureException");
    assert_non_null(strstr(v.message, "'kinesisvideo'"));
    vc.service = "kinesis";

    /* Skew: 15 minutes either way is fine, 16 is not; the window is configurable. */
    cs_manual_clock_advance(&mc, 15ull * 60 * 1000000000ull);
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);
    cs_manual_clock_advance(&mc, 60ull * 1000000000ull);
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SKEW);
    assert_string_equal(v.message, "Signature expired: 20150830T123600Z is now earlier than "
                                   "20150830T123700Z (20150830T125200Z - 15 min.)");
    vc.max_skew_ns = 20ull * 60 * 1000000000ull;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);
    vc.max_skew_ns = 15ull * 60 * 1000000000ull;
    cs_manual_clock_init(&mc, 0, (T0 - 16 * 60) * 1000000000ull);
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SKEW);
    assert_non_null(strstr(v.message, "not yet current"));
    cs_manual_clock_init(&mc, 0, T0 * 1000000000ull);

    /* Unknown access key, and a refused session token. */
    kr.ak = "AKIDOTHER";
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_UNKNOWN_KEY);
    assert_string_equal(v.error_type, "UnrecognizedClientException");
    kr.ak = AK;
    kr.token = "needed";
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_UNKNOWN_KEY);
    kr.token = NULL;

    /* The body no longer matches x-amz-content-sha256. */
    s.req.body = "{ }";
    s.req.body_len = 3;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_PAYLOAD);
    /* A streaming request whose body is not hashed by the server: the header's hash counts. */
    s.req.payload_hash = EMPTY;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);
    s.req.payload_hash = NULL;
    s.req.body = body;
    s.req.body_len = 2;

    /* A signed header changed, removed, or an unsigned one added. */
    s.hs[2] = hdr("x-amz-target", "Kinesis_20131202.DeleteStream");
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SIGNATURE);
    s.hs[2] = hdr("x-amz-other", "Kinesis_20131202.ListStreams");
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SIGNATURE);
    assert_non_null(strstr(v.message, "'x-amz-target'"));
    s.hs[2] = hdr("X-Amz-Target", "  Kinesis_20131202.ListStreams ");
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);

    /* Method, path and query are signed. */
    s.req.method = "PUT";
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    s.req.method = "POST";
    s.req.path = "/x";
    s.req.path_len = 2;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    s.req.path = "/";
    s.req.path_len = 1;
    s.req.query = "a=1";
    s.req.query_len = 3;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SIGNATURE);
    s.req.query = NULL;
    s.req.query_len = 0;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);

    /* No Authorization; two of them; a broken one; no X-Amz-Date; a date not the scope's. */
    s.req.header_count = s.n - 1;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_MISSING);
    assert_string_equal(v.error_type, "MissingAuthenticationTokenException");
    s.hs[s.n] = s.hs[s.n - 1];
    s.req.header_count = s.n + 1;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_MALFORMED);
    s.hs[s.n] = hdr("authorization", "AWS4-HMAC-SHA256 Credential=\"x\"");
    s.hs[s.n - 1] = s.hs[s.n];
    s.req.header_count = s.n;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_MALFORMED);
    assert_string_equal(v.error_type, "IncompleteSignatureException");
    assert_null(strchr(v.message, '"'));
    s.hs[s.n - 1] = hdr("authorization", s.auth);
    s.hs[3] = hdr("x-amz-date", "20150831T123600Z");
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_MALFORMED);
    s.hs[3] = hdr("x-amz-datf", s.sig.amz_date);
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_MALFORMED);
    s.hs[3] = hdr("x-amz-date", s.sig.amz_date);
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_OK);

    /* Host (or :authority) must be signed. */
    {
        cs_sigv4_header keep = s.hs[s.n - 1];
        s.hs[s.n - 1] = hdr("authorization",
                            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/kinesis/"
                            "aws4_request, SignedHeaders=x-amz-date, Signature=" GOOD_SIG);
        assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
        assert_int_equal(v.error, CS_SIGV4_ERR_MALFORMED);
        s.hs[s.n - 1] = hdr("authorization",
                            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-west-2/kinesis/"
                            "aws4_request, SignedHeaders=x-amz-date;host, Signature=" GOOD_SIG);
        assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_AUTH);
        assert_int_equal(v.error, CS_SIGV4_ERR_MALFORMED); /* not sorted */
        s.hs[s.n - 1] = keep;
    }
    assert_int_equal(cs_sigv4_verify(NULL, &s.req, &v), CS_E_INVAL);
    vc.lookup = NULL;
    assert_int_equal(cs_sigv4_verify(&vc, &s.req, &v), CS_E_INVAL);
}

/* The KVS producer SDKs sign the endless PutMedia upload with the empty-string hash and send no
 * x-amz-content-sha256: the server verifies before the body has arrived. */
static void test_verify_streaming_putmedia(void **state)
{
    cs_sigv4_header hs[8];
    cs_sigv4_request req;
    cs_sigv4_sign_config cfg;
    cs_sigv4_verify_config vc;
    cs_sigv4_verdict v;
    cs_sigv4_signature sig;
    cs_manual_clock mc;
    struct keyring kr = {AK, SK, NULL, 0};
    char auth[512];
    size_t n = 0;
    (void)state;

    hs[n++] = hdr("host", "127.0.0.1:8080");
    hs[n++] = hdr("x-amzn-stream-name", "cam-1");
    hs[n++] = hdr("x-amzn-fragment-timecode-type", "ABSOLUTE");
    hs[n++] = hdr("transfer-encoding", "chunked");
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.method_len = 4;
    req.path = "/putMedia";
    req.path_len = 9;
    req.headers = hs;
    req.header_count = n;
    req.payload_hash = EMPTY;
    cs_manual_clock_init(&mc, 0, 1700000000ull * 1000000000ull);
    cs_sigv4_sign_config_init(&cfg);
    cfg.region = "us-west-2";
    cfg.service = "kinesisvideo";
    cfg.access_key = AK;
    cfg.secret_key = SK;
    cfg.signed_headers = "host;x-amzn-stream-name;x-amzn-fragment-timecode-type";
    cfg.clock = &mc.clock;
    assert_int_equal(cs_sigv4_sign(&cfg, &req, auth, sizeof(auth), NULL, &sig), CS_OK);
    assert_non_null(strstr(auth, "SignedHeaders=host;x-amz-date;x-amzn-fragment-timecode-type;"
                                 "x-amzn-stream-name,"));
    hs[n++] = hdr("X-Amz-Date", sig.amz_date);
    hs[n++] = hdr("Authorization", auth);
    req.header_count = n;
    cs_sigv4_verify_config_init(&vc);
    vc.service = "kinesisvideo";
    vc.lookup = lookup;
    vc.lookup_ctx = &kr;
    vc.clock = &mc.clock;
    assert_int_equal(cs_sigv4_verify(&vc, &req, &v), CS_OK);
    /* Without the streaming hint the server would hash a (here empty) body: the same answer. */
    req.payload_hash = NULL;
    assert_int_equal(cs_sigv4_verify(&vc, &req, &v), CS_OK);
    /* With some bytes of body hashed it is not. */
    req.body = "\x1a\x45\xdf\xa3";
    req.body_len = 4;
    assert_int_equal(cs_sigv4_verify(&vc, &req, &v), CS_E_AUTH);
    assert_int_equal(v.error, CS_SIGV4_ERR_SIGNATURE);
}

/* ---------------------------------------------------------------------------------------------- */
/* Canonicalisation edges and limits                                                              */
/* ---------------------------------------------------------------------------------------------- */

static void creq_of(const char *path, const char *query, bool normalize, char *out, size_t cap)
{
    cs_sigv4_header h = hdr("host", "h");
    cs_sigv4_request req;
    size_t len = 0;

    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.method_len = 3;
    req.path = path;
    req.path_len = strlen(path);
    req.query = query;
    req.query_len = strlen(query);
    req.headers = &h;
    req.header_count = 1;
    req.payload_hash = "UNSIGNED-PAYLOAD";
    assert_int_equal(cs_sigv4_canonical_request(&req, "host", 4, normalize, out, cap - 1, &len),
                     CS_OK);
    out[len] = '\0';
}

static void test_canonical_edges(void **state)
{
    static const struct {
        const char *path, *query;
        bool normalize;
        const char *expect; /* path and query lines */
    } cases[] = {
        /* Paths as they arrive on the wire are encoded again (non-S3 rule). */
        {"/hls/v1/getHLSMasterPlaylist.m3u8", "", true, "/hls/v1/getHLSMasterPlaylist.m3u8\n"},
        {"/a%20b", "", true, "/a%2520b\n"},
        {"", "", true, "/\n"},
        {"/a/b/../../..", "", true, "/\n"},
        {"/a/./b/", "", true, "/a/b/\n"},
        {"/a/b/.", "", true, "/a/b\n"},
        {"/a+b*c", "", false, "/a%2Bb%2Ac\n"},
        /* Query: decoded, re-encoded, sorted by name then value; bare names get '='. */
        {"/", "b=2&a=2&a=1", true, "/\na=1&a=2&b=2"},
        {"/", "flag&x=", true, "/\nflag=&x="},
        {"/", "a=%7e&b=%2f&c=%2F&d=%zz&e=+", true, "/\na=~&b=%2F&c=%2F&d=%25zz&e=%2B"},
        {"/", "&&a=1&", true, "/\na=1"},
        {"/", "k=v=w", true, "/\nk=v%3Dw"},
        {"/", "SessionToken=abc%3D%3D&FragmentNumber=9", true,
         "/\nFragmentNumber=9&SessionToken=abc%3D%3D"},
    };
    char out[1024], expect[1024];
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        creq_of(cases[i].path, cases[i].query, cases[i].normalize, out, sizeof(out));
        snprintf(expect, sizeof(expect), "GET\n%s\nhost:h\n\nhost\nUNSIGNED-PAYLOAD",
                 cases[i].expect);
        assert_string_equal(out, expect);
    }
}

static void test_limits(void **state)
{
    char query[CS_SIGV4_MAX_QUERY_PARAMS * 8 + 16];
    char path[CS_SIGV4_MAX_PATH_SEGMENTS * 2 + 8];
    cs_sigv4_header h = hdr("host", "h");
    cs_sigv4_request req;
    size_t len = 0, q = 0;
    (void)state;

    for (int i = 0; i <= CS_SIGV4_MAX_QUERY_PARAMS; i++) {
        q += (size_t)snprintf(query + q, sizeof(query) - q, "%sa=%d", i ? "&" : "", i);
    }
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.method_len = 3;
    req.query = query;
    req.query_len = q;
    req.headers = &h;
    req.header_count = 1;
    assert_int_equal(cs_sigv4_canonical_request(&req, "host", 4, true, NULL, 0, &len), CS_E_LIMIT);
    req.query_len = (size_t)(strrchr(query, '&') - query);
    assert_int_equal(cs_sigv4_canonical_request(&req, "host", 4, true, NULL, 0, &len), CS_OK);
    req.query_len = 0;
    for (int i = 0; i <= CS_SIGV4_MAX_PATH_SEGMENTS; i++) {
        path[2 * i] = '/';
        path[2 * i + 1] = 'a';
    }
    req.path = path;
    req.path_len = 2 * (CS_SIGV4_MAX_PATH_SEGMENTS + 1);
    assert_int_equal(cs_sigv4_canonical_request(&req, "host", 4, true, NULL, 0, &len), CS_E_LIMIT);
    assert_int_equal(cs_sigv4_canonical_request(&req, "host", 4, false, NULL, 0, &len), CS_OK);
    req.path_len -= 2;
    assert_int_equal(cs_sigv4_canonical_request(&req, "host", 4, true, NULL, 0, &len), CS_OK);
    /* A signed header the request lacks; a list not sorted. */
    assert_int_equal(cs_sigv4_canonical_request(&req, "host;x", 6, true, NULL, 0, &len),
                     CS_E_NOTFOUND);
    assert_int_equal(cs_sigv4_canonical_request(&req, "x;host", 6, true, NULL, 0, &len),
                     CS_E_MALFORMED);
    assert_int_equal(cs_sigv4_canonical_request(&req, "host;host", 9, true, NULL, 0, &len),
                     CS_E_MALFORMED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashes),
        cmocka_unit_test(test_amz_date),
        cmocka_unit_test(test_suite_vectors),
        cmocka_unit_test(test_iam_example),
        cmocka_unit_test(test_key_cache_and_sizing),
        cmocka_unit_test(test_parse_authorization),
        cmocka_unit_test(test_verify_refusals),
        cmocka_unit_test(test_verify_streaming_putmedia),
        cmocka_unit_test(test_canonical_edges),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
