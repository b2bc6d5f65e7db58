/* SPDX-License-Identifier: Apache-2.0 */
/* Runs a fuzz target's LLVMFuzzerTestOneInput over every file named on the command line (or in
 * the directories named), so seed corpora and past crashes are regression tests in every build. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    /* An exact-size heap block, so ASan sees reads one past the end. */
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, failures = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            struct dirent **list;
            int n = scandir(argv[i], &list, NULL, alphasort);
            if (n < 0) {
                fprintf(stderr, "replay: cannot list %s\n", argv[i]);
                return 1;
            }
            for (int j = 0; j < n; j++) {
                char path[4096];
                if (list[j]->d_name[0] != '.') {
                    snprintf(path, sizeof(path), "%s/%s", argv[i], list[j]->d_name);
                    failures += run_file(path);
                    files++;
                }
                free(list[j]);
            }
            free(list);
        } else {
            failures += run_file(argv[i]);
            files++;
        }
    }
    printf("replay: %d inputs, %d unreadable\n", files, failures);
    if (files == 0) {
        fprintf(stderr, "replay: empty corpus; a fuzz target must ship seeds\n");
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
