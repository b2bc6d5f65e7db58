/* SPDX-License-Identifier: Apache-2.0 */
/* Oracle for the SigV4 verifier: real clients (Debian's AWS CLI v2 at /usr/bin/aws and boto3 under
 * /usr/bin/python3) sign requests with fixed credentials against a one-shot HTTP/1.1 listener on a
 * loopback port, which records the request and answers 400 with a JSON error. The verifier must
 * accept each captured request as it came, and refuse it with the right error once one byte of the
 * body or of a signed header is changed. Skips (77) when neither client is installed. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "camstream/auth.h"
#include "testutil.h"

#define AK "AKIDORACLE0000000001"
#define SK "oracle/secret+key/0123456789abcdefghijklmn"
#define TOKEN "FwoGZXIvYXdzEOracleSessionToken//+=="
#define CAP_MAX 65536
#define MAX_HDRS 48

/* One captured request, parsed in place. */
struct capture {
    int listen_fd;
    int port;
    char raw[CAP_MAX];
    size_t len;
    bool got;
    cs_sigv4_header hs[MAX_HDRS];
    size_t nh;
    cs_sigv4_request req;
};

static const char reply[] = "HTTP/1.1 400 Bad Request\r\n"
                            "Content-Type: application/x-amz-json-1.1\r\n"
                            "x-amzn-ErrorType: AccessDeniedException\r\n"
                            "Content-Length: 56\r\n"
                            "Connection: close\r\n\r\n"
                            "{\"__type\":\"AccessDeniedException\",\"message\":\"captured\"}";

static size_t content_length(const char *head, size_t n)
{
    const char *p = memmem(head, n, "\r\nContent-Length:", 17);
    if (p == NULL) {
        p = memmem(head, n, "\r\ncontent-length:", 17);
    }
    return p != NULL ? (size_t)strtoul(p + 17, NULL, 10) : 0;
}

/* Accepts one connection, reads one request (head + Content-Length body), answers, closes. */
static void serve_one(void *arg)
{
    struct capture *c = arg;
    struct pollfd pfd = {c->listen_fd, POLLIN, 0};
    char *end = NULL;
    int fd;

    if (poll(&pfd, 1, 60000) != 1) {
        return;
    }
    fd = accept(c->listen_fd, NULL, NULL);
    if (fd < 0) {
        return;
    }
    for (;;) {
        ssize_t r;
        struct pollfd rp = {fd, POLLIN, 0};
        if (end != NULL) {
            size_t head = (size_t)(end - c->raw) + 4;
            if (c->len >= head + content_length(c->raw, head)) {
                break;
            }
        }
        if (c->len == sizeof(c->raw) || poll(&rp, 1, 20000) != 1) {
            break;
        }
        r = read(fd, c->raw + c->len, sizeof(c->raw) - c->len);
        if (r <= 0) {
            break;
        }
        c->len += (size_t)r;
        if (end == NULL) {
            end = memmem(c->raw, c->len, "\r\n\r\n", 4);
        }
    }
    c->got = end != NULL;
    if (write(fd, reply, sizeof(reply) - 1) < 0) {
        /* the client gave up; what was captured still counts */
    }
    close(fd);
}

static void start_listener(struct capture *c, cs_thread *t)
{
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);

    memset(c, 0, sizeof(*c));
    c->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(c->listen_fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(c->listen_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(c->listen_fd, 4), 0);
    assert_int_equal(getsockname(c->listen_fd, (struct sockaddr *)&a, &alen), 0);
    c->port = ntohs(a.sin_port);
    assert_int_equal(cs_thread_create(t, serve_one, c, "oracle-listen"), CS_OK);
}

static void finish_listener(struct capture *c, cs_thread *t)
{
    assert_int_equal(cs_thread_join(t), CS_OK);
    close(c->listen_fd);
}

/* Splits the captured bytes into method, path, query, headers and body. */
static void parse_capture(struct capture *c)
{
    char *p = c->raw, *eol, *head_end, *sp1, *sp2, *q;

    assert_true(c->got);
    head_end = memmem(c->raw, c->len, "\r\n\r\n", 4);
    assert_non_null(head_end);
    eol = memmem(p, (size_t)(head_end - p) + 2, "\r\n", 2);
    sp1 = memchr(p, ' ', (size_t)(eol - p));
    assert_non_null(sp1);
    sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
    assert_non_null(sp2);
    memset(&c->req, 0, sizeof(c->req));
    c->req.method = p;
    c->req.method_len = (size_t)(sp1 - p);
    c->req.path = sp1 + 1;
    q = memchr(sp1 + 1, '?', (size_t)(sp2 - sp1 - 1));
    if (q != NULL) {
        c->req.path_len = (size_t)(q - sp1 - 1);
        c->req.query = q + 1;
        c->req.query_len = (size_t)(sp2 - q - 1);
    } else {
        c->req.path_len = (size_t)(sp2 - sp1 - 1);
    }
    c->nh = 0;
    p = eol + 2;
    while (p < head_end + 2) {
        char *colon;
        eol = memmem(p, (size_t)(head_end + 2 - p), "\r\n", 2);
        colon = memchr(p, ':', (size_t)(eol - p));
        assert_non_null(colon);
        assert_true(c->nh < MAX_HDRS);
        c->hs[c->nh].name = p;
        c->hs[c->nh].name_len = (size_t)(colon - p);
        c->hs[c->nh].value = colon + 1;
        c->hs[c->nh].value_len = (size_t)(eol - colon - 1);
        c->nh++;
        p = eol + 2;
    }
    c->req.headers = c->hs;
    c->req.header_count = c->nh;
    c->req.body = head_end + 4;
    c->req.body_len = c->len - (size_t)(head_end + 4 - c->raw);
    print_message("captured %.*s %.*s: %zu headers, %zu body bytes\n", (int)c->req.method_len,
                  c->req.method, (int)c->req.path_len, c->req.path, c->nh, c->req.body_len);
}

static const cs_sigv4_header *find(const struct capture *c, const char *name)
{
    for (size_t i = 0; i < c->nh; i++) {
        if (c->hs[i].name_len == strlen(name) &&
            strncasecmp(c->hs[i].name, name, c->hs[i].name_len) == 0) {
            return &c->hs[i];
        }
    }
    return NULL;
}

static cs_status lookup(void *ctx, const char *ak, size_t ak_len, const char *token,
                        size_t token_len, char *secret, size_t cap, size_t *secret_len)
{
    const char *want_token = ctx;
    (void)cap;
    if (ak_len != strlen(AK) || memcmp(ak, AK, ak_len) != 0) {
        return CS_E_NOTFOUND;
    }
    if (want_token != NULL && (token == NULL || token_len != strlen(want_token) ||
                               memcmp(token, want_token, token_len) != 0)) {
        return CS_E_NOTFOUND;
    }
    memcpy(secret, SK, strlen(SK));
    *secret_len = strlen(SK);
    return CS_OK;
}

static cs_sigv4_error verify(const struct capture *c, const char *service, const char *token)
{
    cs_sigv4_verify_config vc;
    cs_sigv4_verdict v;
    cs_status st;

    cs_sigv4_verify_config_init(&vc);
    vc.service = service;
    vc.region = "us-west-2";
    vc.lookup = lookup;
    vc.lookup_ctx = (void *)token;
    st = cs_sigv4_verify(&vc, &c->req, &v);
    if (st != CS_OK) {
        print_message("  refused: %s %s: %s\n", cs_sigv4_error_str(v.error), v.error_type,
                      v.message);
        assert_int_equal(st, CS_E_AUTH);
    }
    return v.error;
}

/* Another byte of the same class, so a hex digit stays a hex digit and a date stays a date. */
static char other(char c)
{
    if (c >= '0' && c <= '9') {
        return c == '0' ? '1' : '0';
    }
    if (c >= 'a' && c <= 'z') {
        return c == 'a' ? 'b' : 'a';
    }
    if (c >= 'A' && c <= 'Z') {
        return c == 'A' ? 'B' : 'A';
    }
    return (char)(c ^ 0x01);
}

/* Changes one byte of the request in place, verifies, puts it back. */
static cs_sigv4_error verify_flipped(struct capture *c, char *byte, const char *service,
                                     const char *token)
{
    char keep = *byte;
    cs_sigv4_error e;
    *byte = other(keep);
    e = verify(c, service, token);
    *byte = keep;
    return e;
}

/* The checks every captured request gets. */
static void check_capture(struct capture *c, const char *service, const char *token,
                          const char *extra_signed)
{
    const cs_sigv4_header *auth, *h;

    parse_capture(c);
    auth = find(c, "authorization");
    assert_non_null(auth);
    print_message("  Authorization: %.*s\n", (int)auth->value_len, auth->value);
    assert_int_equal(verify(c, service, token), CS_SIGV4_ERR_NONE);

    if (c->req.body_len > 0) {
        assert_int_equal(
            verify_flipped(c, (char *)c->req.body + c->req.body_len / 2, service, token),
            find(c, "x-amz-content-sha256") != NULL ? CS_SIGV4_ERR_PAYLOAD
                                                    : CS_SIGV4_ERR_SIGNATURE);
    }
    h = find(c, "host");
    assert_non_null(h);
    assert_int_equal(verify_flipped(c, (char *)h->value + h->value_len - 1, service, token),
                     CS_SIGV4_ERR_SIGNATURE);
    if (extra_signed != NULL) {
        h = find(c, extra_signed);
        assert_non_null(h);
        assert_int_equal(verify_flipped(c, (char *)h->value + h->value_len - 1, service, token),
                         CS_SIGV4_ERR_SIGNATURE);
    }
    h = find(c, "x-amz-date");
    assert_non_null(h);
    assert_int_equal(verify_flipped(c, (char *)h->value + h->value_len - 2, service, token),
                     CS_SIGV4_ERR_SIGNATURE);
    /* The signature itself, the scope's service, an unknown key. */
    assert_int_equal(verify_flipped(c, (char *)auth->value + auth->value_len - 1, service, token),
                     CS_SIGV4_ERR_SIGNATURE);
    assert_int_equal(verify(c, strcmp(service, "kinesis") == 0 ? "kinesisvideo" : "kinesis", token),
                     CS_SIGV4_ERR_SERVICE);
    {
        char *k = memmem(auth->value, auth->value_len, AK, strlen(AK));
        assert_non_null(k);
        assert_int_equal(verify_flipped(c, k, service, token), CS_SIGV4_ERR_UNKNOWN_KEY);
    }
    if (token != NULL) {
        assert_int_equal(verify(c, service, "another-token"), CS_SIGV4_ERR_UNKNOWN_KEY);
    }
}

static const char *tmp;

static int run_aws(const struct capture *c, const char *args)
{
    return cs_test_sh("cd '%s' && env -i PATH=/usr/bin:/bin HOME='%s' AWS_CONFIG_FILE='%s/config' "
                      "AWS_SHARED_CREDENTIALS_FILE='%s/credentials' AWS_ACCESS_KEY_ID=" AK
                      " AWS_SECRET_ACCESS_KEY='" SK "' AWS_DEFAULT_REGION=us-west-2 "
                      "AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard "
                      "AWS_PAGER= /usr/bin/aws %s --endpoint-url http://127.0.0.1:%d "
                      "--cli-connect-timeout 5 --cli-read-timeout 5 >aws.log 2>&1",
                      tmp, tmp, tmp, tmp, args, c->port);
}

static int run_boto3(const struct capture *c, const char *service, const char *call,
                     const char *token)
{
    char path[1024];
    FILE *f;

    snprintf(path, sizeof(path), "%s/client.py", tmp);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "import boto3\n"
            "from botocore.config import Config\n"
            "c = boto3.client('%s', endpoint_url='http://127.0.0.1:%d', region_name='us-west-2',\n"
            "    aws_access_key_id='" AK "', aws_secret_access_key='" SK "',\n"
            "    aws_session_token=%s%s%s,\n"
            "    config=Config(retries={'mode': 'standard', 'total_max_attempts': 1},\n"
            "                  connect_timeout=5, read_timeout=5))\n"
            "try:\n"
            "    c.%s\n"
            "except Exception as e:\n"
            "    print(type(e).__name__, e)\n",
            service, c->port, token ? "'" : "", token ? token : "None", token ? "'" : "", call);
    fclose(f);
    return cs_test_sh("cd '%s' && env -i PATH=/usr/bin:/bin HOME='%s' AWS_CONFIG_FILE='%s/config' "
                      "AWS_SHARED_CREDENTIALS_FILE='%s/credentials' AWS_EC2_METADATA_DISABLED=true "
                      "/usr/bin/python3 client.py >boto3.log 2>&1",
                      tmp, tmp, tmp, tmp);
}

static bool have_aws(void)
{
    return access("/usr/bin/aws", X_OK) == 0;
}

static bool have_boto3(void)
{
    return cs_test_sh("env -i PATH=/usr/bin:/bin /usr/bin/python3 -c 'import boto3' "
                      ">/dev/null 2>&1") == 0;
}

static void test_aws_cli_kinesisvideo(void **state)
{
    static struct capture c;
    cs_thread t;
    (void)state;

    if (!have_aws()) {
        skip();
    }
    start_listener(&c, &t);
    (void)run_aws(&c, "kinesisvideo list-streams --max-results 5");
    finish_listener(&c, &t);
    /* AWS CLI 2.9: content-type;host;x-amz-date, no x-amz-content-sha256 (PROTOCOL §1). */
    check_capture(&c, "kinesisvideo", NULL, "content-type");
    assert_null(find(&c, "x-amz-content-sha256"));
}

static void test_aws_cli_kinesis(void **state)
{
    static struct capture c;
    cs_thread t;
    (void)state;

    if (!have_aws()) {
        skip();
    }
    start_listener(&c, &t);
    (void)run_aws(&c, "kinesis put-record --stream-name s --partition-key pk --data aGVsbG8=");
    finish_listener(&c, &t);
    check_capture(&c, "kinesis", NULL, "x-amz-target");
}

static void test_boto3_kinesis(void **state)
{
    static struct capture c;
    cs_thread t;
    (void)state;

    if (!have_boto3()) {
        skip();
    }
    start_listener(&c, &t);
    (void)run_boto3(&c, "kinesis", "list_streams(Limit=3)", NULL);
    finish_listener(&c, &t);
    check_capture(&c, "kinesis", NULL, "x-amz-target");
}

static void test_boto3_kinesisvideo_session_token(void **state)
{
    static struct capture c;
    cs_thread t;
    (void)state;

    if (!have_boto3()) {
        skip();
    }
    start_listener(&c, &t);
    (void)run_boto3(&c, "kinesisvideo", "describe_stream(StreamName='cam 1/ü')", TOKEN);
    finish_listener(&c, &t);
    check_capture(&c, "kinesisvideo", TOKEN, "content-type");
    /* The token is signed: changed, the signature fails where the lookup accepts any token, and
     * the lookup refuses it where it checks. */
    {
        const cs_sigv4_header *h = find(&c, "x-amz-security-token");
        assert_non_null(h);
        assert_int_equal(verify_flipped(&c, (char *)h->value + 3, "kinesisvideo", NULL),
                         CS_SIGV4_ERR_SIGNATURE);
        assert_int_equal(verify_flipped(&c, (char *)h->value + 3, "kinesisvideo", TOKEN),
                         CS_SIGV4_ERR_UNKNOWN_KEY);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_cli_kinesisvideo),
        cmocka_unit_test(test_aws_cli_kinesis),
        cmocka_unit_test(test_boto3_kinesis),
        cmocka_unit_test(test_boto3_kinesisvideo_session_token),
    };
    if (!have_aws() && !have_boto3()) {
        printf("skipped: neither /usr/bin/aws nor python3-boto3 is installed\n");
        return 77;
    }
    tmp = cs_test_tmpdir("auth_oracle");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
